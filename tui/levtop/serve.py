"""`levtop serve`: the monitor in a web browser, through textual-serve.

textual-serve's model: every browser tab (every websocket) starts its own ``levtop`` process,
driven through Textual's web driver, and stops it when the tab closes. So each tab costs a
whole levtop (its own sources, or with ``--demo`` its own simulator too); nothing is shared.

Loopback (127.0.0.1) by default. There is no login: bound elsewhere, anyone who can reach the
port gets a levtop of their own, so a warning goes to stderr. On loopback, requests must name a
loopback host (a DNS-rebinding page cannot reach it), and a websocket must come from the page's
own origin (another site open in the browser cannot drive a tab).

The tabs run with ``LEVTOP_SERVED=1``: they ring the bell and show alert notifications, but
leave desktop, webhook and command deliveries (which would repeat once per tab) to one
``levtop watch --alerts``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shlex
import signal
import sys
from dataclasses import dataclass
from typing import Any, Sequence, TextIO
from urllib.parse import urlsplit

from levtop.errors import UserError
from levtop.redact import redact

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
SHUTDOWN_TIMEOUT_S = 5.0
SERVED_ENV = "LEVTOP_SERVED"  # levtop.alert_sinks.SERVED_ENV, without importing it here


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (the logic of levtop.sim.command's check)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(netloc: str) -> str:
    try:
        return (urlsplit(f"//{netloc}").hostname or "").lower()
    except ValueError:
        return ""


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    app_args: tuple[str, ...] = ()
    """The arguments each tab's levtop gets (``--demo --scenario trap``, ``--sim URL``)."""
    public_url: str | None = None
    """The URL the browser uses, when a proxy stands in front; else the request's own host."""


def tab_command(app_args: Sequence[str]) -> str:
    """The command line of one tab's levtop. textual-serve runs it through a shell, so every
    word is quoted; it is built here from fixed words and parsed arguments only."""
    return shlex.join([sys.executable, "-m", "levtop", *app_args])


def non_loopback_warning(host: str) -> str:
    return (f"levtop serve: WARNING: listening on {host}, not loopback: there is no login, and anyone who can "
            "reach this port gets a levtop process of their own per connection")


def make_server(options: ServeOptions) -> Any:
    """A textual-serve Server with levtop's page, checks and start-up line."""
    import aiohttp_jinja2
    from aiohttp import web
    from textual_serve.server import Server, to_int

    loopback = is_loopback(options.host)
    public_host = _hostname(urlsplit(options.public_url).netloc) if options.public_url else None

    class LevtopServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()

            @web.middleware
            async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
                host = _hostname(request.host)
                if loopback and not (is_loopback(host) or host == public_host):
                    return web.Response(status=403, text="levtop serve: this server answers to a loopback host only\n")
                if request.path == "/ws":
                    origin = request.headers.get("Origin")
                    allowed = {request.host.lower()}
                    if options.public_url:
                        allowed.add(urlsplit(options.public_url).netloc.lower())
                    if origin and urlsplit(origin).netloc.lower() not in allowed:
                        return web.Response(status=403, text="levtop serve: websocket from another origin\n")
                return await handler(request)

            app.middlewares.append(guard)
            return app

        async def on_startup(self, app: web.Application) -> None:
            pass  # the start-up line is printed once the port is bound (serve below)

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict[str, Any]:
            # The page's own URLs from the request (or --public-url), not from the bind address:
            # bound to 0.0.0.0, the browser must come back to the host it asked for.
            base = (options.public_url or f"{request.scheme}://{request.host}").rstrip("/")
            router = request.app.router
            ws_base = ("wss:" if base.startswith("https:") else "ws:") + base.split(":", 1)[1]
            return {
                "font_size": to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": f"{ws_base}{router['websocket'].url_for()}",
                "config": {"static": {"url": f"{base}{router['static'].url_for(filename='/')}".rstrip("/") + "/"}},
                "application": {"name": self.title},
            }

    return LevtopServer(tab_command(options.app_args), host=options.host, port=options.port, title="levtop",
                        public_url=options.public_url)


async def _serve(options: ServeOptions, out: TextIO, stop: asyncio.Event) -> int:
    from aiohttp import web

    server = make_server(options)
    runner = web.AppRunner(await server._make_app(), handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.host, options.port)
        try:
            await site.start()
        except OSError as exc:
            raise UserError(f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}") from None
        port = options.port
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                port = address[1]
                break
        shown_host = f"[{options.host}]" if ":" in options.host else options.host
        url = options.public_url or f"http://{shown_host}:{port}"
        tab = " ".join(["levtop", *options.app_args]) if options.app_args else "levtop (live)"
        print(redact(f"levtop serve: {url} (each browser tab runs its own {tab}; Ctrl-C stops)"), file=out, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def serve(options: ServeOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Serve until SIGINT or SIGTERM; 0 then."""
    out = out or sys.stdout
    err = err or sys.stderr
    if not is_loopback(options.host):
        print(non_loopback_warning(options.host), file=err, flush=True)
    # Inherited by every tab's levtop (textual-serve copies this process's environment).
    os.environ[SERVED_ENV] = "1"

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        return await _serve(options, out, stop)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0

"""The simulator's HTTP/websocket server: every venue on one port, under the venues' real paths.

Any client reaches the simulator by swapping only the scheme, host and port of each real URL
(see :func:`levtop.sources.endpoints.point_exchange`). Control routes live under ``/_sim/``:
``/_sim/faults`` (GET, POST, DELETE), ``/_sim/stats`` (GET, DELETE resets), ``/_sim/clock`` and
``/_sim/burst`` (POST ``{"rate", "seconds", "assets"?, "seed"?}`` starts a liquidation burst on
the Binance stream, GET reports what it sent, DELETE stops it; see ``levtop.sim.burst``).

Usable as a library::

    async with Simulator(scenario="recovery", seed=1, speed=600.0, port=0) as sim:
        ...  # sim.base_url, sim.ws_url, sim.market, sim.clock, sim.faults, sim.stats
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import weakref
from http import HTTPStatus
from typing import Any, Iterable

from aiohttp import web

from levtop.sim import DEFAULT_HOST
from levtop.sim.burst import Burst, BurstBoard, BurstError, BurstRunning
from levtop.sim.clock import SimClock
from levtop.sim.faults import (
    FaultConfigError,
    FaultRule,
    FaultSet,
    apply_payload_faults,
    apply_text_faults,
    rules_from_document,
)
from levtop.sim.stats import SimStats
from levtop.sim.venues import binance, bybit, okx, sentiment
from levtop.sim.venues.common import ParamError, RestRoute, SimContext, StreamSender, VenueApi, VenueError, VenueReply, WsRoute


def venue_apis() -> tuple[VenueApi, ...]:
    # OKX first: its /ws/v5/... paths must win over Binance's catch-all /ws/<streams>.
    return (okx.api(), bybit.api(), binance.api(), sentiment.fear_greed_api(), sentiment.stablecoins_api())


def _gateway_page(status: int) -> str:
    """What a CDN or load balancer sends for an outage: HTML, not the venue's JSON."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>{status} {phrase}</h1></center>\r\n</body>\r\n</html>\r\n"


def _reset_connection(request: web.Request) -> None:
    """Close the TCP connection without a response: the client sees a reset/disconnect."""
    transport = request.transport
    if transport is not None:
        transport.abort()


class Simulator:
    def __init__(
        self,
        scenario: str = "recovery",
        seed: int = 1,
        speed: float = 600.0,
        assets: Iterable[str] = ("BTC", "ETH", "SOL"),
        start_ms: int | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        faults: Iterable[FaultRule] = (),
        stream_poll_s: float = 0.2,
        market: Any = None,
        lead_ms: int = 0,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.speed = float(speed)
        self.assets = tuple(a.strip().upper() for a in assets if a.strip())
        self.start_ms = start_ms
        self.host = host
        self.requested_port = port
        self.stream_poll_s = stream_poll_s
        self.faults = FaultSet(seed=seed)
        self.faults.extend(faults)
        self.stats = SimStats()
        self.market = market
        # The clock may start before the scenario's anchor (start_ms), so that a viewer has a
        # stretch of ordinary market before the story's events (the demo uses a day: enough
        # liquidations for the cascade meter's baseline before the flush).
        self.lead_ms = int(lead_ms)
        self.clock: SimClock | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._ctx: SimContext | None = None

    # ------------------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> "Simulator":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.market is None:
            from levtop.sim.market import Market

            # Building the model is CPU work; keep the loop free meanwhile.
            self.market = await asyncio.to_thread(
                Market, scenario=self.scenario, seed=self.seed, assets=self.assets, start_ms=self.start_ms
            )
        self.clock = SimClock(self.market.start_ms - self.lead_ms, self.speed)
        self._ctx = SimContext(self.market, self.clock, self.faults, self.stats, stream_poll_s=self.stream_poll_s)
        app = self._build_app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, reuse_address=True)
        await site.start()
        # The bound address tells the real port when port=0 asked for a free one.
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._ctx is not None:
            await self._ctx.bursts.stop()
        for ws in list(self._sockets):
            await ws.close(message=b"simulator shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self._url_host()}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host()}:{self.port}"

    def _url_host(self) -> str:
        if self.host in ("0.0.0.0", ""):
            return "127.0.0.1"
        if self.host == "::":
            return "[::1]"
        return f"[{self.host}]" if ":" in self.host else self.host

    # ------------------------------------------------------------------------- the app

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/_sim", self._index)
        app.router.add_get("/_sim/", self._index)
        app.router.add_get("/_sim/faults", self._get_faults)
        app.router.add_post("/_sim/faults", self._post_faults)
        app.router.add_delete("/_sim/faults", self._delete_faults)
        app.router.add_delete("/_sim/faults/{rule_id}", self._delete_fault)
        app.router.add_get("/_sim/stats", self._get_stats)
        app.router.add_delete("/_sim/stats", self._reset_stats)
        app.router.add_get("/_sim/clock", self._get_clock)
        app.router.add_get("/_sim/burst", self._get_burst)
        app.router.add_post("/_sim/burst", self._post_burst)
        app.router.add_delete("/_sim/burst", self._delete_burst)
        for api in venue_apis():
            for ws_route in api.ws:
                app.router.add_get(ws_route.path, self._ws_endpoint(api, ws_route))
        for api in venue_apis():
            for rest_route in api.rest:
                app.router.add_get(rest_route.path, self._rest_endpoint(api, rest_route))
        return app

    def _rest_endpoint(self, api: VenueApi, route: RestRoute):
        ctx = self._ctx
        assert ctx is not None

        async def handle(request: web.Request) -> web.StreamResponse:
            ctx.stats.count_request(api.venue, route.path)
            rules = ctx.faults.firing_for_request(api.venue, request.path)
            for rule in rules:
                ctx.stats.count_fault(rule.kind)
            for rule in rules:
                if rule.kind == "delay" and rule.delay_s:
                    await asyncio.sleep(rule.delay_s)
            if any(rule.kind == "refuse" for rule in rules):
                _reset_connection(request)
                return web.Response(status=499)
            now = ctx.now_ms()
            status_rule = next((r for r in rules if r.kind == "status"), None)
            if status_rule is not None and status_rule.status is not None:
                reply = api.status_reply(status_rule.status, now)
                if status_rule.retry_after_s is not None:
                    reply.headers["Retry-After"] = str(int(round(status_rule.retry_after_s)))
            else:
                try:
                    reply = route.handler(ctx, request.query)
                except VenueError as exc:
                    reply = exc.reply
                except ParamError as exc:
                    reply = api.param_error(exc, now)
            return self._render(reply, rules)

        return handle

    @staticmethod
    def _render(reply: VenueReply, rules: list[FaultRule]) -> web.Response:
        if reply.payload is None:
            return web.Response(
                text=_gateway_page(reply.status), status=reply.status, content_type="text/html", headers=reply.headers
            )
        payload = apply_payload_faults(reply.payload, rules)
        text = apply_text_faults(json.dumps(payload, separators=(",", ":")), rules)
        return web.Response(text=text, status=reply.status, content_type="application/json", headers=reply.headers)

    def _ws_endpoint(self, api: VenueApi, route: WsRoute):
        ctx = self._ctx
        assert ctx is not None

        async def handle(request: web.Request) -> web.StreamResponse:
            ctx.stats.count_request(api.venue, route.path)
            # Handshake faults see the request path as the stream name ("ws" matches every path).
            rules = ctx.faults.firing_for_handshake(api.venue, request.path)
            for rule in rules:
                ctx.stats.count_fault(rule.kind)
            if any(rule.kind == "refuse" for rule in rules):
                _reset_connection(request)
                return web.Response(status=499)
            status_rule = next((r for r in rules if r.kind == "status"), None)
            if status_rule is not None and status_rule.status is not None:
                reply = api.status_reply(status_rule.status, ctx.now_ms())
                if status_rule.retry_after_s is not None:
                    reply.headers["Retry-After"] = str(int(round(status_rule.retry_after_s)))
                return self._render(reply, [])
            # No permessage-deflate (a server may decline it; ccxt offers it and carries on): on
            # loopback it only costs CPU at both ends, twice per frame (10 -> 5 us).
            ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20, compress=False)
            await ws.prepare(request)
            ctx.stats.count_connection(api.venue)
            self._sockets.add(ws)
            try:
                await route.handler(ctx, request, ws, StreamSender(ctx, api.venue, ws))
            finally:
                if not ws.closed:
                    await ws.close()
            return ws

        return handle

    # ------------------------------------------------------------------------- control routes

    def _clock_json(self) -> dict[str, Any]:
        assert self.clock is not None and self.market is not None
        now = self.clock.now_ms()
        return {
            "now_ms": now,
            "now": dt.datetime.fromtimestamp(now / 1000, dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "speed": self.clock.speed,
            "scenario": self.scenario,
            "seed": self.seed,
            "start_ms": self.clock.start_ms,
            "first_ms": self.market.first_ms,
            "assets": list(self.market.assets),
        }

    async def _index(self, request: web.Request) -> web.Response:
        routes: dict[str, dict[str, list[str]]] = {}
        for api in venue_apis():
            routes[api.venue] = {"rest": [r.path for r in api.rest], "ws": [r.path for r in api.ws]}
        return web.json_response(
            {"base_url": self.base_url, "ws_url": self.ws_url, "clock": self._clock_json(), "routes": routes}
        )

    async def _get_clock(self, request: web.Request) -> web.Response:
        return web.json_response(self._clock_json())

    async def _get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.to_json())

    async def _reset_stats(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return web.json_response(self.stats.to_json())

    async def _get_burst(self, request: web.Request) -> web.Response:
        assert self._ctx is not None
        latest = self._ctx.bursts.latest
        return web.json_response({"burst": latest.to_json() if latest else None})

    async def _post_burst(self, request: web.Request) -> web.Response:
        ctx = self._ctx
        assert ctx is not None
        try:
            document = json.loads(await request.text() or "{}")
            if not isinstance(document, dict):
                raise BurstError("the body must be a JSON object")
            burst = self._burst_from(document)
            ctx.bursts.start(burst, ctx.now_ms)
        except BurstRunning as exc:
            return web.json_response({"error": str(exc)}, status=409)
        except (ValueError, TypeError) as exc:  # BurstError and malformed JSON are ValueErrors
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"burst": burst.to_json()}, status=201)

    def _burst_from(self, document: dict[str, Any]) -> Burst:
        ctx = self._ctx
        assert ctx is not None
        unknown = set(document) - {"venue", "rate", "seconds", "assets", "seed"}
        if unknown:
            raise BurstError(f"unknown burst field(s): {', '.join(sorted(unknown))}")
        assets = document.get("assets") or list(ctx.assets)
        if not isinstance(assets, list) or not all(isinstance(a, str) and a in ctx.assets for a in assets):
            raise BurstError(f"assets must be a list of the simulated assets ({', '.join(ctx.assets)})")
        now = ctx.now_ms()
        venue = str(document.get("venue", "binance"))
        if venue not in BurstBoard.VENUES:
            raise BurstError(f"bursts run on {', '.join(BurstBoard.VENUES)}, not {venue!r}")
        prices = {a: ctx.market.tick(a, venue, now).mark_price for a in assets}
        # The span the burst owns starts after every ordinary event sent so far.
        return Burst(venue, float(document.get("rate", 2000)), float(document.get("seconds", 30)), prices,
                     start_ms=now + 1, seed=int(document.get("seed", self.seed)))

    async def _delete_burst(self, request: web.Request) -> web.Response:
        assert self._ctx is not None
        await self._ctx.bursts.stop()
        latest = self._ctx.bursts.latest
        return web.json_response({"burst": latest.to_json() if latest else None})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": self.faults.to_json()})

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            document = json.loads(await request.text())
        except ValueError as exc:
            return web.json_response({"error": f"request body is not JSON: {exc}"}, status=400)
        try:
            rules = rules_from_document(document, "request body")
        except FaultConfigError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        added = self.faults.extend(rules)
        now = self.faults.clock()
        return web.json_response({"added": [r.to_json(now) for r in added]}, status=201)

    async def _delete_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"removed": self.faults.clear()})

    async def _delete_fault(self, request: web.Request) -> web.Response:
        try:
            rule_id = int(request.match_info["rule_id"])
        except ValueError:
            return web.json_response({"error": "fault id must be an integer"}, status=400)
        if not self.faults.remove(rule_id):
            return web.json_response({"error": f"no fault with id {rule_id}"}, status=404)
        return web.json_response({"removed": 1})

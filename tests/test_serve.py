"""`levtop serve`: the page on loopback, a tab's levtop behind the websocket, the warning when
bound elsewhere, and the checks that keep other sites and other host names out."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

import aiohttp
import pytest

from levtop.serve import is_loopback, tab_command

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and process groups are POSIX")


@asynccontextmanager
async def serving(*args: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process, list[str]]]:
    """`levtop serve --port 0 ARGS` as a subprocess; yields its URL, the process and its stderr
    lines so far. Stopped with SIGTERM, which must end it (and its tabs) with status 0."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "levtop", "serve", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stderr: list[str] = []
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        match = re.search(r"http://[^ ]+:(\d+)", line)
        if match is None:
            rest = (await process.stderr.read()).decode()
            pytest.fail(f"no URL from levtop serve: {line!r} {rest!r}")
        yield f"http://127.0.0.1:{match.group(1)}", process, stderr
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail("levtop serve did not stop on SIGTERM")
        stderr += (await process.stderr.read()).decode().splitlines()
    assert process.returncode == 0, stderr


async def test_serve_answers_on_loopback_with_the_page():
    async with serving() as (url, _process, stderr), aiohttp.ClientSession() as session:
        async with session.get(url + "/") as response:
            assert response.status == 200 and response.content_type == "text/html"
            page = await response.text()
        # The page's websocket points back at the host the browser asked for.
        assert f'data-session-websocket-url="ws://127.0.0.1:{url.rsplit(":", 1)[1]}/ws"' in page
        assert "<title>levtop</title>" in page or "levtop" in page
        # A DNS-rebinding name for 127.0.0.1 is refused; so is a websocket from another site.
        async with session.get(url + "/", headers={"Host": "attacker.example"}) as response:
            assert response.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url + "/ws", headers={"Origin": "http://attacker.example"})
        assert refused.value.status == 403
    assert not any("WARNING" in line for line in stderr)


async def test_a_tab_runs_its_own_levtop():
    async with serving("--demo", "--speed", "600") as (url, process, _stderr), aiohttp.ClientSession() as session:
        async with session.ws_connect(url + "/ws?width=100&height=30", headers={"Origin": url}) as ws:
            await ws.send_json(["resize", {"width": 100, "height": 30}])
            received = 0
            async def frames() -> None:
                nonlocal received
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        received += len(message.data)
                        if received > 20_000:  # a few screens of the dashboard
                            return
            await asyncio.wait_for(frames(), 60)
            assert received > 20_000


async def test_bound_elsewhere_it_warns_on_stderr():
    async with serving("--host", "0.0.0.0") as (url, process, stderr), aiohttp.ClientSession() as session:
        async with session.get(url + "/") as response:
            assert response.status == 200
        first = (await asyncio.wait_for(process.stderr.readline(), 10)).decode()
        assert first.startswith("levtop serve: WARNING: listening on 0.0.0.0, not loopback")


def test_helpers():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.2", "example.com", "::"))
    command = tab_command(["--sim", "http://127.0.0.1:8787/?a=b c"])
    assert command.endswith("-m levtop --sim 'http://127.0.0.1:8787/?a=b c'")


def test_bad_arguments_are_one_line(capsys):
    from levtop.cli import main

    assert main(["serve", "--demo", "--sim", "http://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.strip() == "levtop: --demo and --sim exclude each other: --demo starts its own simulator"
    with pytest.raises(SystemExit):
        main(["serve", "--port", "70000"])
    assert "expected a port number from 0 to 65535" in capsys.readouterr().err

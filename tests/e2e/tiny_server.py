"""A tiny aiohttp server on loopback, in a thread, for answers no provider gives.

    with tiny_server(handler) as url:      # handler(request) -> web.Response
        run_cli(..., "--base-url", url + "/v1")

Used for what the simulator must not model: a proxy's HTML page, a redirect, an HTTP
forward proxy. Requests it saw are in ``server.seen``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class TinyServer:
    url: str = ""
    seen: list[tuple[str, str, dict[str, str]]] = field(
        default_factory=list
    )  # method, url, headers


@contextlib.contextmanager
def tiny_server(handler: Handler) -> Iterator[TinyServer]:
    server = TinyServer()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def record(request: web.Request) -> web.StreamResponse:
        server.seen.append((request.method, str(request.url), dict(request.headers)))
        return await handler(request)

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        server.url = f"http://127.0.0.1:{port}"
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


async def forward(request: web.Request) -> web.StreamResponse:
    """An HTTP forward proxy's handler: send the absolute-form request on, answer back."""
    headers = {
        k: v for k, v in request.headers.items() if k.lower() not in ("host", "proxy-connection")
    }
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            request.method, str(request.url), data=await request.read(), headers=headers
        ) as resp,
    ):
        return web.Response(
            status=resp.status, body=await resp.read(), content_type="application/json"
        )

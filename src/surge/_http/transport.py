"""One HTTP attempt, behind a two-method seam.

    transport = AiohttpTransport(concurrency=100)
    response = await transport.send("POST", url, body_bytes, headers, timeout=30.0)
    response.status, response.headers["x-request-id"], response.body  # raw bytes
    await transport.close()

The engine only sees :class:`Transport`; tests and future backends (a proxy, a shared
client in another process) implement the same two methods. The default is aiohttp:
measured on this project's 2-core machine at concurrency 200 against a zero-latency
loopback server it sustains ~4,500 req/s where httpx's pool manages ~200 (see
benchmarks/RESULTS.md), and the engine's throughput target is relative to it.

Failures are mapped to surge's exception tree so the retry policy sees only
``APITimeoutError`` and ``APIConnectionError`` (``at_connect`` when no connection was
ever made: refused, DNS failure, TLS mismatch); the API key never appears in them.
Redirects are never followed (as httpx and openai-python): a 3xx comes back as it is, so
a key in a custom header never travels to another origin. Proxies come from the
environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), as every HTTP client does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from ..errors import APIConnectionError, APITimeoutError

__all__ = ["AiohttpTransport", "RawResponse", "Transport"]


@dataclass(slots=True)
class RawResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float | None,
    ) -> RawResponse: ...

    async def close(self) -> None: ...


class AiohttpTransport:
    """aiohttp with a connection pool sized to the concurrency cap."""

    def __init__(self, *, concurrency: int, connect_timeout: float | None = None) -> None:
        self._concurrency = concurrency
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        # The environment's proxy for each URL, looked up once: aiohttp's trust_env would
        # do it (and a .netrc lookup) in a thread on every request.
        self._proxies: dict[str, tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._concurrency,
                limit_per_host=0,
                ttl_dns_cache=300,
                keepalive_timeout=30,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # surge owns timeouts per attempt; no session-wide deadline.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "surge/0.1"},
            )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float | None,
    ) -> RawResponse:
        session = self._ensure_session()
        proxy, proxy_auth = self._proxy_for(url)
        try:
            async with asyncio.timeout(timeout):
                async with session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    proxy=proxy,
                    proxy_auth=proxy_auth,
                ) as resp:
                    payload = await resp.read()
                    return RawResponse(resp.status, resp.headers, payload)  # type: ignore[arg-type]
        except TimeoutError as err:
            raise APITimeoutError(f"no complete answer within {timeout:g}s") from err
        except aiohttp.ClientConnectorError as err:
            raise APIConnectionError(
                f"cannot connect to {err.host}:{err.port}: {err.os_error}", at_connect=True
            ) from err
        except aiohttp.ServerDisconnectedError as err:
            raise APIConnectionError("server closed the connection without an answer") from err
        except (aiohttp.ClientError, OSError) as err:
            raise APIConnectionError(f"connection error: {type(err).__name__}: {err}") from err

    def _proxy_for(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """``HTTPS_PROXY``/``HTTP_PROXY`` for ``url`` unless ``NO_PROXY`` excludes it."""
        found = self._proxies.get(url)
        if found is None:
            try:
                proxy, auth = get_env_proxy_for_url(URL(url))
                found = (proxy, auth)
            except LookupError:
                found = (None, None)
            self._proxies[url] = found
        return found

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

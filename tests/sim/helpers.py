"""Small HTTP helpers shared by the simulator's end-to-end tests."""

from __future__ import annotations

from typing import Any

import aiohttp

from surge_sim import Simulator


def chat(text: str = "hello", **extra: Any) -> dict[str, Any]:
    """A minimal chat completion body whose last user message is ``text``."""
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


async def post(
    sim: Simulator,
    path: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """POST ``body`` (or ``raw`` bytes) to ``base_url + path``; returns status, JSON, headers."""
    async with aiohttp.ClientSession() as session:
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
        async with session.post(sim.base_url + path, headers=headers, **kwargs) as resp:
            payload = await resp.json(content_type=None)
            return resp.status, payload, {k.lower(): v for k, v in resp.headers.items()}

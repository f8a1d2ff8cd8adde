"""The cache key of a request: its full URL and its body, canonicalised.

    cache_key("http://127.0.0.1:8000/v1/chat/completions", {"model": "m", "messages": [...]})
    # "5f0c..." (64 hex digits)

Two bodies that differ only in key order or whitespace are the same request; anything
else (a different model, temperature, base URL or endpoint) is another one. Pure.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["cache_key"]

_VERSION = b"surge-cache-1\n"  # bump when the key's definition changes


def cache_key(url: str, body: Any) -> str:
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(_VERSION)
    digest.update(url.rstrip("/").encode())
    digest.update(b"\n")
    digest.update(canonical)
    return digest.hexdigest()

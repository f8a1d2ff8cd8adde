"""What the resume decision needs from one output line, read fast.

    fingerprint("/v1/chat/completions", {"model": "m", "messages": [...]})   # "9c1f0e4b2a7d3e11"
    read_entry(line)            # (id_digest(custom_id), fingerprint bits | flags), or None
    failure_kind(503, "http_503")                                          # "transient"

A result line records a *fingerprint* of what was sent: the endpoint and the body with its
keys sorted (model included), hashed to 64 bits. A re-run compares it with the request it
is about to send: equal means "already answered", different means the request changed
(a prompt, the model, a parameter) and the old answer is stale.

Resuming a million-line output must start sending in seconds, so :func:`read_entry` does
not parse whole lines it wrote itself: the custom_id sits right after ``"id"`` and surge's
metadata is the last key, so a regex and a small tail parse suffice. Anything else (Batch
API output, older surge files) takes the full parse.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from .._constants import OUTPUT_METADATA_KEY
from ..models import FailureKind, failure_kind
from .digests import id_digest

__all__ = [
    "FAILED",
    "FP_MASK",
    "TRANSIENT",
    "UNSENT",
    "FailureKind",
    "failure_kind",
    "fingerprint",
    "fingerprint_bits",
    "is_output_record",
    "read_entry",
    "record_custom_id",
]

# The low two bits of an entry's value are flags; the fingerprint keeps the other 62.
FAILED = 1
TRANSIENT = 2
FP_MASK = ((1 << 64) - 1) & ~3
# The fingerprint of a line that answers nothing sent (an invalid input line).
UNSENT = 4

_SURGE_PREFIX = b'{"id":"batch_req_'
_CUSTOM_ID = re.compile(rb'"custom_id":("(?:[^"\\]|\\.)*")')
_META_KEY = b',"' + OUTPUT_METADATA_KEY.encode() + b'":{'


def fingerprint(url: str, body: Any) -> str:
    """What was sent, in 16 hex digits: endpoint and canonical body (sorted keys)."""
    canonical = url.encode() + b"\n" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


def fingerprint_bits(hex_fp: object) -> int:
    """A recorded fingerprint as an int without its flag bits (0: none recorded)."""
    if not isinstance(hex_fp, str):
        return 0
    try:
        return int(hex_fp, 16) & FP_MASK
    except ValueError:
        return 0


def is_output_record(record: object) -> bool:
    """A Batch API output record (surge's or OpenAI's): custom_id and response/error."""
    return (
        isinstance(record, dict)
        and isinstance(record.get("custom_id"), str)
        and ("response" in record or "error" in record)
    )


def record_custom_id(raw: bytes) -> str | None:
    """The custom_id of an output line (fast for surge's own lines), or None."""
    if raw.startswith(_SURGE_PREFIX):
        match = _CUSTOM_ID.search(raw, 0, 200 + len(raw) // 8)
        if match is not None:
            try:
                value = orjson.loads(match.group(1))
            except orjson.JSONDecodeError:
                value = None
            if isinstance(value, str):
                return value
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return record["custom_id"] if is_output_record(record) else None


def _flags(failed: bool, kind: str | None) -> int:
    if not failed:
        return 0
    return FAILED | (TRANSIENT if kind == "transient" else 0)


def _fast_entry(raw: bytes) -> tuple[int, int] | None:
    if not raw.startswith(_SURGE_PREFIX):
        return None
    match = _CUSTOM_ID.search(raw, 0, 200 + len(raw) // 8)
    cut = raw.rfind(_META_KEY)
    if match is None or cut < 0:
        return None
    try:
        custom_id = orjson.loads(match.group(1))
        meta = orjson.loads(raw[cut + len(_META_KEY) - 1 : raw.rindex(b"}")])
    except (orjson.JSONDecodeError, ValueError):
        return None
    if not isinstance(custom_id, str) or not isinstance(meta, dict) or "fingerprint" not in meta:
        return None
    failure = meta.get("failure")
    flags = _flags(failure is not None, failure)
    recorded = meta["fingerprint"]
    bits = UNSENT if recorded is None and failure is not None else fingerprint_bits(recorded)
    return id_digest(custom_id), bits | flags


def _full_entry(raw: bytes) -> tuple[int, int] | None:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not is_output_record(record):
        return None
    meta = record.get(OUTPUT_METADATA_KEY)
    meta = meta if isinstance(meta, dict) else {}
    response = record.get("response")
    status = response.get("status_code") if isinstance(response, dict) else None
    status = status if isinstance(status, int) else None
    error = record.get("error")
    failed = bool(error) or status is None or status >= 300
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, str) else None
    kind = meta.get("failure")
    if failed and kind is None:
        kind = failure_kind(status, code)
    bits = fingerprint_bits(meta.get("fingerprint"))
    if response is None and code == "invalid_input":
        bits = UNSENT
    return id_digest(record["custom_id"]), bits | _flags(failed, kind)


def read_entry(raw: bytes) -> tuple[int, int] | None:
    """``(id digest, fingerprint bits | flags)`` of one output line; None if not a record."""
    return _fast_entry(raw) or _full_entry(raw)

"""What a result line records of its request, and what the resume decision reads back.

    fingerprint("/v1/chat/completions", {"model": "m", "messages": [...]})   # "9c1f0e4b2a7d3e11"
    read_entry(line)     # (id_digest(custom_id), fingerprint bits | flags, source), or None
    failure_kind(503, "http_503")                                          # "transient"

A result line records a *fingerprint* of what was sent: the endpoint and the body with its
keys sorted (model included), hashed to 64 bits. A re-run compares it with the request it
is about to send: equal means "already answered", different means the request changed
(a prompt, the model, a parameter) and the old answer is stale.

The reading itself (the fast path for surge's own lines, the full parse for the rest, the
flags) is :mod:`surge.io.entry_lines`, importable alone by the process that reads a big
output back; this module re-exports it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from ..models import FailureKind, failure_kind
from .digests import id_digest, json_digest
from .entry_lines import (
    FAILED,
    FLAGS,
    FP_MASK,
    RECORDED,
    SEEN,
    TRANSIENT,
    UNSENT,
    fast_entry,
    fingerprint_bits,
    full_entry,
    is_output_record,
    quoted_custom_id,
)

__all__ = [
    "FAILED",
    "FLAGS",
    "FP_MASK",
    "RECORDED",
    "SEEN",
    "TRANSIENT",
    "UNSENT",
    "FailureKind",
    "failure_kind",
    "fast_entry",
    "fingerprint",
    "fingerprint_and_bits",
    "fingerprint_bits",
    "full_entry",
    "is_output_record",
    "read_entry",
    "record_custom_id",
    "record_key",
]


def fingerprint(url: str, body: Any) -> str:
    """What was sent, in 16 hex digits: endpoint and canonical body (sorted keys)."""
    return fingerprint_and_bits(url, body)[0]


def fingerprint_and_bits(url: str, body: Any) -> tuple[str, int]:
    """:func:`fingerprint` and the same as :func:`fingerprint_bits` gives for it."""
    canonical = url.encode() + b"\n" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(canonical, digest_size=8).digest()
    return digest.hex(), int.from_bytes(digest, "big") & FP_MASK


def record_custom_id(raw: bytes) -> str | None:
    """The custom_id of an output line, or None if the line is not a result record."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return record["custom_id"] if is_output_record(record) else None


def record_key(raw: bytes) -> int | None:
    """The :func:`~surge.io.digests.id_digest` of an output line's custom_id, or None."""
    quoted = quoted_custom_id(raw)
    if quoted is not None:
        return json_digest(quoted)
    custom_id = record_custom_id(raw)
    return id_digest(custom_id) if custom_id is not None else None


def read_entry(raw: bytes) -> tuple[int, int, int] | None:
    """``(id digest, fingerprint bits | flags, source)`` of one output line; None if not a
    record. ``source`` is the digest of the input line it answers (:mod:`.linedigest`), 0
    when none is recorded or it cannot be trusted alone: a content-derived id (``t-...``)
    may be an occurrence (``t-...-2``) that depends on the lines before it."""
    return fast_entry(raw) or full_entry(raw)

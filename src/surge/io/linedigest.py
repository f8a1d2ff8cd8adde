"""What an input line asks for, known from its bytes: a digest of the line under the run's
options, so a resumed run can recognize a line it already answered without parsing it.

    seed = line_seed(options, text_mode=False)   # None: the options cannot be digested
    line_digest(b'{"custom_id": "a", "body": {...}}\\n', seed)   # a nonzero 64-bit int

The request an input line becomes is a function of the line's bytes and of the run's
options alone (model, system, parameters, endpoint, and whether lines are text or JSON):
the custom_id too, which the line holds or its content gives. A result line records this
digest of the input line it answers (``"source"`` in its metadata), so when a resumed run
meets a line whose digest the output holds, the request is the one already answered,
without parsing the line, building the request or hashing its body (what makes resuming a
million-line output start sending in seconds, see :meth:`surge.io.ledger.Ledger.replay`).
Anything else (a line edited, even by one space; other options; an output written without
digests) takes the full decision, which compares the fingerprints of the requests.

XXH3 (the ``xxhash`` package, a C implementation) because it is stable across processes
and versions, and costs ~0.1 µs a line where blake2b costs 0.5. :data:`VERSION` is part of
every seed: a surge that builds a request differently from the same line must change it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import orjson
from xxhash import xxh3_64_intdigest

if TYPE_CHECKING:
    from ..config import RunOptions

__all__ = ["VERSION", "line_digest", "line_seed"]

# Bump when the same line under the same options would become another request.
VERSION = 1


def line_seed(options: RunOptions, *, text_mode: bool) -> int | None:
    """The seed of :func:`line_digest` for a run: its request-building options, hashed."""
    what = [VERSION, text_mode, options.path, options.api, options.model, options.system]
    try:
        dumped = orjson.dumps([*what, dict(options.params)], option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a parameter JSON cannot hold: no digests for this run
        return None
    return int.from_bytes(hashlib.blake2b(dumped, digest_size=8).digest())


def line_digest(raw: bytes, seed: int) -> int:
    """A nonzero 64-bit digest of one raw input line (its newline included) under ``seed``."""
    return xxh3_64_intdigest(raw, seed) or 1

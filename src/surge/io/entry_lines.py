"""What the resume decision needs from one output line, read fast, and the blocks of such
entries a whole file gives; importable without the rest of the library.

    fast_entry(line)      # (id digest, fingerprint bits | flags, source) of a line surge wrote
    full_entry(line)      # the same from any result record (a JSON parse); None if not one
    LocalEntries(f, end)  # a file's entries, BLOCK_ENTRIES at a time, as arrays

Resuming a million-line output must start sending in seconds, so :func:`fast_entry` does
not parse whole lines surge wrote: the custom_id sits right after ``"id"`` and surge's
metadata is the last key, so a few slices at known places suffice. Anything else (Batch
API output, older surge files, ids with escapes) takes the full parse; both give the same
entry.

A big output is read by a child process (:mod:`surge.io.entry_scan`) that imports this
module and nothing else of surge: no ``typing``, no ``orjson`` until a line needs a full
parse (the child's memory is part of the run's).
"""

from __future__ import annotations

import sys
from array import array

from xxhash import xxh3_64_intdigest

from .._constants import OUTPUT_METADATA_KEY
from .._failures import failure_kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from io import BufferedReader
    from typing import Any

__all__ = [
    "BLOCK_ENTRIES",
    "FAILED",
    "FLAGS",
    "FP_MASK",
    "RECORDED",
    "SEEN",
    "TRANSIENT",
    "UNSENT",
    "Block",
    "LocalEntries",
    "child_main",
    "fast_entry",
    "fingerprint_bits",
    "full_entry",
    "is_output_record",
    "quoted_custom_id",
]

# An entry's value: fingerprint bits above, flags in the low four bits.
FAILED = 1  # the recorded result is an error ...
TRANSIENT = 2  # ... that could succeed if sent again
SEEN = 4  # the id was admitted in this run (set by the ledger, never read from a file)
RECORDED = 8  # the output holds a line for the id
FLAGS = 15
FP_MASK = ((1 << 64) - 1) & ~FLAGS
# The fingerprint of a line that answers nothing sent (an invalid input line).
UNSENT = 16

# The offsets in fast_entry follow from these (7, 15 and 15 bytes).
_ID_PREFIX = b'{"id":"'
_CUSTOM_ID_KEY = b'","custom_id":"'
_FINGERPRINT_KEY = b',"fingerprint":'
_SOURCE_KEY = b',"source":"'
# The end of the common line: ',"source":"' + 16 + '","fingerprint":"' + 16 + '"}}' + newline.
_ANSWER_END = b'"}}\n'
_SOURCE_FINGERPRINT = _SOURCE_KEY
_FINGERPRINT_VALUE = b'","fingerprint":"'
_CONTENT_ID_START = b'"t-'
# What follows the fingerprint in a line surge wrote, and the flags it means.
_ENDINGS = {
    ending + newline: flags
    for ending, flags in (
        (b"}}", RECORDED),
        (b',"failure":"transient"}}', RECORDED | FAILED | TRANSIENT),
        (b',"failure":"permanent"}}', RECORDED | FAILED),
    )
    for newline in (b"", b"\n", b"\r\n")
}


Block = tuple[array, array, array]  # type: ignore[type-arg]
BLOCK_ENTRIES = 4096
_READ = 1 << 18
_loads: Any = None  # orjson.loads, imported when a line first needs a full parse


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


def _is_occurrence(custom_id: str) -> bool:
    """A content id's repeat (``t-`` + 12 hex digits + ``-2``...), or an id shaped like one."""
    return custom_id.startswith("t-") and len(custom_id) > 14


def _source(value: object) -> int:
    if not isinstance(value, str) or len(value) != 16:
        return 0
    try:
        return int(value, 16) or 1
    except ValueError:
        return 0


def _flags(failed: bool, kind: str | None) -> int:
    if not failed:
        return RECORDED
    return RECORDED | FAILED | (TRANSIENT if kind == "transient" else 0)


def quoted_custom_id(raw: bytes) -> bytes | None:
    """The custom_id of a line surge wrote, still JSON-encoded (quotes included)."""
    if not raw.startswith(_ID_PREFIX):
        return None
    i = raw.find(_CUSTOM_ID_KEY, len(_ID_PREFIX), 200)
    if i < 0:
        return None
    start = i + len(_CUSTOM_ID_KEY) - 1
    end = raw.find(b'"', start + 1)
    if end < 0:
        return None
    quoted = raw[start : end + 1]
    return None if b"\\" in quoted else quoted  # escapes: let the full parse decode it


def fast_entry(raw: bytes) -> tuple[int, int, int] | None:
    """Only slicing, for the lines surge writes (metadata last, known key order).

    One flat function on purpose: it runs once per output line before the first request
    (in the process that reads a big output, :mod:`surge.io.entry_scan`). The common line,
    an answer with its input-line digest, ends in a fixed layout and is read from known
    offsets; other endings (a failure, a superseding or invalid line) look for the key.
    """
    if not raw.startswith(_ID_PREFIX):
        return None
    # The custom_id: right after an id of surge's own length, else found.
    i = 41 if raw.startswith(_CUSTOM_ID_KEY, 41) else raw.find(_CUSTOM_ID_KEY, 7, 200)
    end = raw.find(34, i + 15) if i >= 0 else -1  # its closing quote
    if end < 0:
        return None
    quoted = raw[i + 14 : end + 1]
    if 92 in quoted:  # a backslash: let the full parse decode the id
        return None
    n = len(raw)
    # ...,"source":"<16 hex>","fingerprint":"<16 hex>"}}\n
    if (
        raw.endswith(_ANSWER_END)
        and raw.startswith(_SOURCE_FINGERPRINT, n - 64)
        and raw.startswith(_FINGERPRINT_VALUE, n - 37)
    ):
        try:
            bits = int(raw[n - 20 : n - 4], 16) & FP_MASK
            source = int(raw[n - 53 : n - 37], 16) or 1
        except ValueError:
            return None
        if len(quoted) > 16 and quoted.startswith(_CONTENT_ID_START):  # _is_occurrence
            source = 0
        return xxh3_64_intdigest(quoted) or 1, bits | RECORDED, source  # json_digest
    j = raw.rfind(_FINGERPRINT_KEY, n - 200)
    if j < 0:
        return None
    k = j + 15
    if raw[k] == 110:  # n(ull): never sent (an invalid line) or no fingerprint known
        flags = _ENDINGS.get(raw[k + 4 :])
        if flags is None:
            return None
        key = xxh3_64_intdigest(quoted) or 1  # json_digest
        return key, flags if flags == RECORDED else flags | UNSENT, 0
    flags = _ENDINGS.get(raw[k + 18 :])
    if flags is None or raw[k] != 34:
        return None
    try:
        bits = int(raw[k + 1 : k + 17], 16) & FP_MASK
        # The input line's digest sits right before the fingerprint (Result.to_output).
        if raw[j - 28 : j - 17] == _SOURCE_KEY and not (
            len(quoted) > 16 and quoted.startswith(_CONTENT_ID_START)  # _is_occurrence
        ):
            source = int(raw[j - 17 : j - 1], 16) or 1
        else:
            source = 0
    except ValueError:
        return None
    return xxh3_64_intdigest(quoted) or 1, bits | flags, source  # json_digest


def full_entry(raw: bytes) -> tuple[int, int, int] | None:
    global _loads
    if _loads is None:
        from orjson import loads

        _loads = loads
    try:
        record = _loads(raw)
    except ValueError:  # orjson.JSONDecodeError
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
    custom_id = record["custom_id"]
    source = 0
    # A superseding line is never replayed (the fast read sees no source before its marker).
    if bits and bits != UNSENT and not _is_occurrence(custom_id) and "supersedes" not in meta:
        source = _source(meta.get("source"))
    # id_digest: the digest of the id's JSON encoding, which for a string is its quoted form
    # as orjson writes it (the full parse is rare: orjson is imported only here).
    from orjson import dumps

    return xxh3_64_intdigest(dumps(custom_id)) or 1, bits | _flags(failed, kind), source


class LocalEntries:
    """Parse the lines here, from byte ``pos`` (line ``number``) to ``end``."""

    def __init__(self, f: BufferedReader, end: int, *, pos: int = 0, number: int = 0) -> None:
        self._f = f
        self._end = end
        self.pos = pos
        self.number = number
        self.unreadable: list[int] = []

    def next_block(self) -> Block | None:
        """The entries of the next lines, :data:`BLOCK_ENTRIES` or so; None at ``end``."""
        f, end = self._f, self._end
        f.seek(self.pos)  # the file is shared with the superseding-line search
        keys, values, sources = array("Q"), array("Q"), array("Q")
        while len(keys) < BLOCK_ENTRIES and self.pos < end:
            lines = f.readlines(_READ)
            if not lines:
                self.pos = end
                break
            pos, number = self.pos, self.number
            for raw in lines:
                if pos >= end:
                    break  # appended by this run: not what the output held at open
                pos += len(raw)
                number += 1
                entry = fast_entry(raw) or full_entry(raw)  # read_entry, inlined
                if entry is None:
                    self.unreadable.append(number)
                else:
                    keys.append(entry[0])
                    values.append(entry[1])
                    sources.append(entry[2])
            self.pos, self.number = pos, number
        return (keys, values, sources) if keys else None

    def close(self) -> None:
        pass  # the file is the caller's


def child_main(path: str, end: int) -> None:
    """The child process: every block of ``path`` up to ``end``, then an empty one."""
    out = sys.stdout.buffer

    def send(keys: Any, values: Any, sources: Any, unreadable: Any, pos: int, number: int) -> None:
        header = array("Q", (len(keys), len(unreadable), pos, number))
        out.write(header.tobytes())
        for part in (keys, values, sources, unreadable):
            out.write(part.tobytes())
        out.flush()

    with open(path, "rb") as f:
        entries = LocalEntries(f, end)
        while True:
            block = entries.next_block()
            unreadable = array("Q", entries.unreadable)
            entries.unreadable.clear()
            keys, values, sources = block if block is not None else (array("Q"),) * 3
            send(keys, values, sources, unreadable, entries.pos, entries.number)
            if block is None:
                return

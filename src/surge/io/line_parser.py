"""Raw input lines to items: the format decided by the first lines, each line a request
or the error that names it, and each request tagged with its line's digest.

    parser = LineParser(builder, "auto")
    parser.items([b'{"prompt": "hi"}\n', b"\n"])   # [Request] (blank lines give nothing)
    parser.seed                                       # the digest seed, once the format is known
    LineBatch(lines, first=1, parser=parser).items(0, 2)

The format is decided by the first non-blank lines (:func:`detect_text_mode`): JSON
starts JSONL, anything else is plain text with one prompt per line. :class:`LineBatch` is
what :mod:`surge.io.source` hands the engine's feeder: raw lines parsed only when asked,
so a resumed run parses none of the lines it recognizes by their digest
(:mod:`surge.io.linedigest`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Literal

import orjson

from ..errors import ConfigError, InputError
from ..models import Request
from .formats import RequestBuilder
from .linedigest import line_digest, line_seed

__all__ = ["ITEMS_PER_BATCH", "InputFormat", "Item", "LineBatch", "LineParser", "detect_text_mode"]

InputFormat = Literal["auto", "jsonl", "text"]
Item = Request | InputError

# Items handed over at a time: each batch is done with before the next is made, so few
# objects are alive at once and the garbage collector has little to look at.
ITEMS_PER_BATCH = 256
_DETECT_LINES = 20
_JSON_START = ("{", '"')


def _is_json(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict | str)
    except orjson.JSONDecodeError:
        return False


def detect_text_mode(lines: Sequence[str], *, first_line: int = 1) -> bool:
    """True for plain text, False for JSONL, from the first non-blank lines of an input.

        detect_text_mode(['{"prompt": "hi"}'])                  # False: JSONL
        detect_text_mode(["{curly} braces are fine", "next"])   # True: text

    A first line that starts like JSON but does not parse is a bad JSONL line when a
    later line is JSON, a text prompt when a later line is not JSON-like; with nothing
    to tell them apart, :class:`ConfigError` asks for ``--input-format``.
    """
    texts = [line.strip() for line in lines if line.strip()]
    if not texts or not texts[0].startswith(_JSON_START):
        return True
    if _is_json(texts[0]):
        return False
    others = texts[1:]
    if any(t.startswith(_JSON_START) and _is_json(t) for t in others):
        return False
    if any(not t.startswith(_JSON_START) for t in others):
        return True
    raise ConfigError(
        f"cannot tell whether the input is JSONL or text: line {first_line} starts with "
        f"{texts[0][0]!r} but is not JSON; pass --input-format jsonl or --input-format text"
    )


def _decoded(batch: Sequence[bytes]) -> list[str]:
    return [raw.decode("utf-8", "replace").removeprefix("\ufeff") for raw in batch]


class LineBatch:
    """Raw input lines, numbered from ``first``, parsed on demand.

    ``seed`` is the digest seed of the run's lines (:mod:`surge.io.linedigest`) once the
    format is known (None before: the first non-blank line decides it).
    """

    __slots__ = ("first", "lines", "parser")

    def __init__(self, lines: list[bytes], first: int, parser: LineParser) -> None:
        self.lines = lines
        self.first = first
        self.parser = parser

    def __len__(self) -> int:
        return len(self.lines)

    def __repr__(self) -> str:
        return f"LineBatch(lines={len(self.lines)}, first={self.first})"

    @property
    def seed(self) -> int | None:
        return self.parser.seed

    def items(self, start: int, stop: int) -> list[Item]:
        """The items of ``lines[start:stop]`` (blank lines give none); in order, once each."""
        parser = self.parser
        parser.line_no = self.first + start - 1
        return parser.items(self.lines, start, stop)


class LineParser:
    """Raw lines to items, a batch at a time; decides the format on the first line."""

    def __init__(self, builder: RequestBuilder, input_format: InputFormat) -> None:
        self.builder = builder
        self.text_mode: bool | None = {"auto": None, "jsonl": False, "text": True}[input_format]
        self.line_no = 0
        self._seed: int | None = None

    @property
    def seed(self) -> int | None:
        """The digest seed of this input's lines, once the format is known."""
        if self._seed is None and self.text_mode is not None:
            self._seed = line_seed(self.builder.options, text_mode=self.text_mode) or 0
        return self._seed or None

    def items(self, batch: list[bytes], start: int = 0, stop: int | None = None) -> list[Item]:
        """The items of ``batch[start:stop]``, numbered on from ``line_no``."""
        out: list[Item] = []
        i = start
        stop = len(batch) if stop is None else stop
        # The first line (a byte-order mark) and the lines up to the first non-blank one
        # (which decides the format, looking at the lines after it) one by one; the rest
        # in the loop of their format.
        while i < stop and (self.line_no == 0 or self.text_mode is None):
            self._one(batch, i, out)
            i += 1
        if i < stop:
            build = self._text_line if self.text_mode else self._jsonl_line
            self._each(batch, i, stop, out, build)
        return out

    def _one(self, batch: list[bytes], position: int, out: list[Item]) -> None:
        self.line_no += 1
        line_no = self.line_no
        try:
            text = batch[position].decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as err:
            out.append(InputError(f"not valid UTF-8 (byte {err.start})", line=line_no))
            return
        if line_no == 1:
            # Editors on Windows save a BOM; it would make JSONL look like text.
            text = text.removeprefix("\ufeff")
        if not text.strip():
            return
        if self.text_mode is None:
            ahead = _decoded(batch[position : position + _DETECT_LINES])
            self.text_mode = detect_text_mode(ahead, first_line=line_no)
        try:
            request = self.builder.from_line(text, line=line_no, text_mode=self.text_mode)
        except InputError as err:
            out.append(err)
            return
        seed = self.seed
        if seed is not None:
            request.source = line_digest(batch[position], seed)
        out.append(request)

    def _each(
        self,
        batch: list[bytes],
        start: int,
        stop: int,
        out: list[Item],
        build: Callable[[str, int], Request | None],
    ) -> None:
        """The lines of a known format: the loop a resumed run's unrecognized lines take."""
        append = out.append
        line_no = self.line_no
        seed = self.seed
        for raw in itertools.islice(batch, start, stop):
            line_no += 1
            try:
                request = build(raw.decode("utf-8"), line_no)
            except UnicodeDecodeError as err:
                append(InputError(f"not valid UTF-8 (byte {err.start})", line=line_no))
                continue
            except InputError as err:
                append(err)
                continue
            if request is not None:  # None: a blank line
                if seed is not None:
                    request.source = line_digest(raw, seed)
                append(request)
        self.line_no = line_no

    def _text_line(self, text: str, line_no: int) -> Request | None:
        """One prompt per line."""
        prompt = text.strip()
        return self.builder.from_text(prompt, line_no) if prompt else None

    def _jsonl_line(self, text: str, line_no: int) -> Request | None:
        if not text or text.isspace():
            return None
        return self.builder.from_line(text.rstrip("\r\n"), line=line_no)

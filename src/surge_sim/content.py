"""Deterministic reply text, token counts and embedding vectors.

Example::

    from surge_sim.content import prompt_digest, reply_text, count_tokens

    digest = prompt_digest("What is 2+2?")        # "1a6b8b2f..." (12 hex chars)
    text, tokens = reply_text(digest, seed=0)      # "[sim:<digest>] word word ...", exact count
    count_tokens("hello world")                    # 2 (o200k_base)

A reply is a pure function of the last user message (through its digest), the seed and
the choice index: ``[sim:<digest>] `` followed by 5..60 filler words, each one o200k token,
so a test can tell which request an answer belongs to. Token counts come from toktok and
are cached, since benchmarks send the same texts over and over.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Callable
from functools import lru_cache

import toktok

ENCODING = "o200k_base"
MIN_FILLER_WORDS = 5
MAX_FILLER_WORDS = 60

# Each of these, with a leading space, is exactly one o200k token (a test pins it), so the
# token count of a reply is the tag's count plus the number of filler words.
_WORDS: tuple[str, ...] = tuple(
    """
    the of and to in is it that was for on are as with his they at be this from have or by one
    had not but what all were when we there can an your which their said if do will each about
    how up out them then she many some so these would other into has more her two like him see
    time could no make than first been its who now people my made over did down only way find
    use may water long little very after words called just where most know get through back
    much go good new write our me man too any day same right look think also around another
    came come work three must because does part even place well such here take why help put
    different away again off went old number great tell men say small every found still
    between name should home big give air line set own under read last never us left end along
    while might next sound below saw something thought both few those always show large often
    together asked house world going want school important until form food keep children feet
    land side without boy once animal life enough took sometimes four head above kind began
    almost live page got earth need far hand high year mother light country father let night
    picture being study second soon story since white ever paper hard near sentence better
    best across during today however sure knew try told young sun thing whole hear example
    heard several change answer room sea against top
    """.split()  # noqa: SIM905 (a word list reads better as prose)
)


def prompt_digest(text: str) -> str:
    """First 12 hex digits of the SHA-256 of ``text``: the tag that starts every reply.

    Example::

        >>> prompt_digest("hello")
        '2cf24dba5fb0'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _counter() -> Callable[[str], int]:
    # The tokenizer object counts one text in ~3us where batch_count([text]) takes ~14us
    # (list building, thread pool setup): that is a third of a request's budget at 10k req/s.
    # It is private to toktok, so fall back to the public call if it ever goes away.
    try:
        count = toktok._encoding(ENCODING).count
        if count("hello world") == 2:
            return count  # type: ignore[no-any-return]
    except (AttributeError, KeyError, TypeError):
        pass
    return lambda text: int(toktok.batch_count([text], ENCODING, threads=1)[0])


_count: Callable[[str], int] | None = None


@lru_cache(maxsize=1 << 16)
def count_tokens(text: str) -> int:
    """Number of o200k_base tokens in ``text`` (cached: identical texts are common)."""
    global _count
    if not text:
        return 0
    if _count is None:
        _count = _counter()
    return int(_count(text))


def truncate_tokens(text: str, max_tokens: int) -> tuple[str, int]:
    """Cut ``text`` to at most ``max_tokens`` tokens; returns ``(text, kept_tokens)``."""
    cut, total = toktok.truncate(text, max_tokens, ENCODING)
    if total <= max_tokens:
        return cut, total
    # ASCII never splits a character across tokens, so the cut keeps exactly max_tokens.
    return cut, max_tokens if cut.isascii() else count_tokens(cut)


def _stream(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=64).digest()


@lru_cache(maxsize=1 << 16)
def reply_text(digest: str, seed: int = 0, index: int = 0) -> tuple[str, int]:
    """The reply for a prompt digest: ``(text, completion_tokens)``, uncapped.

    Example::

        text, n = reply_text(prompt_digest("hi"), seed=0)
        assert text.startswith("[sim:")
    """
    stream = _stream("reply", seed, digest, index)
    n_words = MIN_FILLER_WORDS + stream[0] % (MAX_FILLER_WORDS - MIN_FILLER_WORDS + 1)
    words = [_WORDS[(stream[1 + i % 63] + 37 * (i // 63)) % len(_WORDS)] for i in range(n_words)]
    tag = f"[sim:{digest}]"
    return tag + " " + " ".join(words), count_tokens(tag) + n_words


def unit_float(*parts: object) -> float:
    """A deterministic number in ``[0, 1)`` drawn from ``parts`` (for faults and jitter)."""
    raw = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big") / 2**64


@lru_cache(maxsize=1 << 14)
def embedding_vector(text: str, dimensions: int) -> tuple[float, ...]:
    """A deterministic unit vector for ``text`` (same text, same vector, whatever the seed)."""
    raw = hashlib.shake_256(text.encode("utf-8", "surrogatepass")).digest(2 * dimensions)
    values = [(v - 32767.5) for v in struct.unpack(f"<{dimensions}H", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return tuple(round(v / norm, 7) for v in values)


def encode_base64(vector: tuple[float, ...]) -> str:
    """Embedding as OpenAI's ``encoding_format="base64"``: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")

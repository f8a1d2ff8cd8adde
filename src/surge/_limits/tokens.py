"""How many tokens a request will cost, before it is sent.

    provider_estimate(body, expected_output=256)   # ceil(characters / 4) + max_tokens or 256
    counter = TokenCounter()
    counter.prompt_tokens(body)               # exact o200k/cl100k count, offline
    estimate_cost(body, prompt=120, expected_output=256)   # 120 + max_tokens or 256

A provider's *rate limiter* does not tokenize: OpenAI documents that it charges an
estimate made from the request's characters (about 4 per token) plus ``max_tokens``, up
front. :func:`provider_estimate` is that estimate; the gate scales it by what each model's
server turns out to charge (``learning.py``). The exact count below is the *bill*.

Counting uses ``toktok`` (the OpenAI vocabularies compiled into the package, counts equal
to tiktoken's; nothing is downloaded). Loading the vocabulary takes ~0.4 s, so it is
loaded lazily in a thread; until it is ready, and if the package is missing, the
documented estimate ``ceil(characters / 4)`` is used, which is OpenAI's own rule of thumb.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from typing import Any

__all__ = [
    "TokenCounter",
    "charged_tokens",
    "encoding_for_model",
    "estimate_cost",
    "expected_output_tokens",
    "provider_estimate",
]

log = logging.getLogger(__name__)

# Per-message framing overhead in chat requests (role markers), as OpenAI documents it.
_PER_MESSAGE = 3
_PER_REQUEST = 3


def encoding_for_model(model: str | None) -> str:
    """The vocabulary a model uses; older GPT-3.5/4 models use cl100k, the rest o200k."""
    # Fine-tuned models ("ft:gpt-3.5-turbo:org::id") use their base model's vocabulary.
    name = (model or "").lower().removeprefix("ft:")
    if name.startswith(("gpt-3.5", "gpt-4-", "text-embedding")) or name == "gpt-4":
        return "cl100k_base"
    return "o200k_base"


def iter_texts(body: dict[str, Any]) -> Iterator[str]:
    """Every piece of text a request sends (messages, input, instructions, tools...)."""
    for key in ("instructions", "prompt", "system"):
        value = body.get(key)
        if isinstance(value, str):
            yield value
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                yield from _content_texts(message.get("content"))
    yield from _content_texts(body.get("input"))
    for key in ("tools", "response_format", "text"):
        value = body.get(key)
        if isinstance(value, dict | list):
            yield str(value)  # schemas count too; str() is close enough for an estimate


def _content_texts(content: Any) -> Iterator[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    yield part["text"]
                elif "content" in part:
                    yield from _content_texts(part.get("content"))


def expected_output_tokens(body: dict[str, Any]) -> int | None:
    """The output budget a request declares (``max_tokens`` and its newer names)."""
    for key in ("max_completion_tokens", "max_output_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def estimate_cost(body: dict[str, Any], *, prompt: int, expected_output: float) -> int:
    """Tokens a provider's limiter will charge: prompt + declared max output or expected."""
    declared = expected_output_tokens(body)
    n = body.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    output = declared if declared is not None else expected_output
    return int(prompt + math.ceil(output) * choices)


def provider_estimate(body: dict[str, Any], *, expected_output: float) -> int:
    """Tokens a provider's rate limiter charges up front: ``ceil(characters / 4)`` of the
    prompt, plus the declared output budget (``max_tokens`` times ``n``) or, when there is
    none, ``expected_output``."""
    chars = sum(len(text) for text in iter_texts(body))
    return estimate_cost(body, prompt=math.ceil(chars / 4), expected_output=expected_output)


def charged_tokens(body: dict[str, Any], *, prompt: int, completion: int) -> int:
    """What a provider's limiter charged once usage is known: the prompt, plus the declared
    output budget when there is one (providers reserve it), else the real completion."""
    declared = expected_output_tokens(body)
    if declared is None:
        return prompt + completion
    n = body.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    return prompt + declared * choices


class TokenCounter:
    """Counts prompt tokens exactly when the vocabulary is loaded, else estimates."""

    def __init__(self) -> None:
        self._toktok: Any = None
        self._loading = False
        self._lock = threading.Lock()
        self._ready: set[str] = set()

    def warm(self, encoding: str = "o200k_base") -> None:
        """Start loading a vocabulary in a background thread (idempotent)."""
        with self._lock:
            if encoding in self._ready or self._loading:
                return
            self._loading = True
        threading.Thread(target=self._load, args=(encoding,), daemon=True).start()

    def load(self, encoding: str = "o200k_base") -> None:
        """Load a vocabulary now, in this thread (for offline tools such as ``estimate``)."""
        if encoding not in self._ready:
            self._load(encoding)

    def _load(self, encoding: str) -> None:
        try:
            import toktok

            toktok.batch_count([""], encoding, threads=1)
            self._toktok = toktok
            self._ready.add(encoding)
        except Exception as err:  # missing package or unknown encoding: keep estimating
            log.debug("token vocabulary %s unavailable (%s); using chars/4", encoding, err)
        finally:
            self._loading = False

    def count(self, texts: list[str], encoding: str) -> int:
        if encoding in self._ready:
            return sum(self._toktok.batch_count(texts, encoding, threads=1))
        self.warm(encoding)
        return sum(math.ceil(len(t) / 4) for t in texts)

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        texts = list(iter_texts(body))
        messages = body.get("messages")
        framing = _PER_REQUEST + _PER_MESSAGE * (len(messages) if isinstance(messages, list) else 1)
        model = body.get("model")
        return self.count(texts, encoding_for_model(model if isinstance(model, str) else None)) + (
            framing
        )

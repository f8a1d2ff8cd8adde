"""Prompts under a run's options: their bodies, built only when needed, and fingerprinted
without being built.

    form = PromptForm("/v1/chat/completions", "chat", "gpt-4.1-mini", None, {})
    request = form.request("t-3f2a9c0d1b7e", "What is 2+2?", line=1)
    request_fingerprint(request)    # == fingerprint_and_bits(request.url, request.body)
    request.body                    # built now, on first read

A resumed run reads every input line and skips most of them: a million-line input costs
what one line costs, a million times, before the first new request goes out. A plain
prompt's request therefore carries its prompt and its :class:`PromptForm` (model, system,
parameters: the same for every line of a run) instead of a body, and
:class:`PromptRequest` builds the body the first time anything reads it.

The fingerprint (:func:`~surge.io.records.fingerprint_and_bits`) hashes the endpoint and
the body dumped with sorted keys. The prompt is one string value in that body and no key
depends on it, so the dump is always *prefix + the prompt's JSON + suffix*: a form dumps
its body once around a marker, hashes the prefix once, and each prompt costs a copy of
that hash state and one update. The bytes hashed are the very bytes the full dump would
give (a property test holds the two to it), so outputs written before keep resuming.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from ..models import Request
from .records import FP_MASK, UNSENT, fingerprint_and_bits
from .templates import set_dotted

__all__ = ["PromptForm", "PromptRequest", "prompt_body", "request_fingerprint"]

# Stands for the prompt while a form dumps its body; a form whose options happen to
# contain it (its JSON appears more than once) just does without the shortcut.
_MARKER = "\x00surge:prompt\x00"
_MARKER_JSON = orjson.dumps(_MARKER)
# What the body slot of a PromptRequest holds until the body is built.
_UNBUILT: Any = object()
# The slot under the dataclass field Request.body, which PromptRequest.body wraps.
_BODY_SLOT: Any = Request.__dict__["body"]
_new = object.__new__


def prompt_body(
    api: str,
    model: str,
    system: str | None,
    params: Mapping[str, Any],
    *,
    prompt: str | None = None,
    messages: list[Any] | None = None,
) -> dict[str, Any]:
    """The body of a prompt (or a chat list) for ``api``; ``params`` go in last.

    ``prompt_body("chat", "m", "Be brief.", {"temperature": 0}, prompt="Hi")`` ->
    ``{"model": "m", "messages": [system, user], "temperature": 0}``.
    """
    body: dict[str, Any] = {"model": model}
    if api == "chat":
        msgs: list[Any] = [{"role": "system", "content": system}] if system else []
        msgs.extend(messages if messages is not None else [{"role": "user", "content": prompt}])
        body["messages"] = msgs
    elif api == "responses":
        body["input"] = messages if messages is not None else prompt
        if system:
            body["instructions"] = system
    else:  # embeddings
        body["input"] = prompt
    for key, value in params.items():
        if isinstance(value, dict | list):
            value = copy.deepcopy(value)  # every body owns its values
        if api == "responses" and key == "reasoning_effort":
            set_dotted(body, "reasoning.effort", value)
        else:
            set_dotted(body, key, value)
    return body


class PromptForm:
    """Everything but the prompt: endpoint, api, model, system and parameters of a body."""

    __slots__ = ("_hash", "_suffix", "api", "model", "params", "system", "url")

    def __init__(
        self, url: str, api: str, model: str, system: str | None, params: Mapping[str, Any]
    ) -> None:
        self.url = url
        self.api = api
        self.model = model
        self.system = system
        self.params = copy.deepcopy(dict(params))  # the template must stay true to it
        self._hash: Any = None  # blake2b state after url + "\n" + the dump's prefix
        self._suffix = b""
        try:
            canonical = orjson.dumps(self.body(_MARKER), option=orjson.OPT_SORT_KEYS)
        except TypeError:  # a parameter JSON cannot hold: requests say so when sent
            return
        if canonical.count(_MARKER_JSON) == 1:  # else: a parameter replaced the prompt
            prefix, self._suffix = canonical.split(_MARKER_JSON)
            self._hash = hashlib.blake2b(url.encode() + b"\n" + prefix, digest_size=8)

    def __repr__(self) -> str:
        return f"PromptForm({self.url!r}, {self.api!r}, {self.model!r}, system={self.system!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # hash states do not pickle; remake them
        return PromptForm, (self.url, self.api, self.model, self.system, self.params)

    def body(self, prompt: str) -> dict[str, Any]:
        return prompt_body(self.api, self.model, self.system, self.params, prompt=prompt)

    def request(
        self, custom_id: str, prompt: str, line: int | None, content_id: bool = False
    ) -> PromptRequest:
        """A request for ``prompt``, its body not built yet."""
        # Every field of Request set by hand (a test holds this to the dataclass's fields):
        # its __init__ costs a third more, once per input line.
        request: PromptRequest = _new(PromptRequest)
        request.custom_id = custom_id
        _BODY_SLOT.__set__(request, _UNBUILT)
        request.url = self.url
        request.method = "POST"
        request.line = line
        request.index = 0
        request.fingerprint = None
        request.content_id = content_id
        request.source = None
        request.form = self
        request.prompt = prompt
        return request


class PromptRequest(Request):
    """A :class:`~surge.Request` for a prompt under a :class:`PromptForm`; its body is
    built the first time it is read (a line that a resumed run skips never needs one).

    Once built, the body is an ordinary dict that a caller may change; the fingerprint is
    then taken from it, as for any request.
    """

    __slots__ = ("form", "prompt")
    form: PromptForm
    prompt: str

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = _BODY_SLOT.__get__(self)
        if body is _UNBUILT:
            body = self.form.body(self.prompt)
            _BODY_SLOT.__set__(self, body)
        return body

    @body.setter
    def body(self, value: dict[str, Any]) -> None:
        _BODY_SLOT.__set__(self, value)

    @property
    def built(self) -> bool:
        """Whether the body was built (read, or set) already."""
        return _BODY_SLOT.__get__(self) is not _UNBUILT


def request_fingerprint(request: Request) -> tuple[str | None, int]:
    """``fingerprint_and_bits(request.url, request.body)``, for the ledger: the same values,
    without building a prompt request's body. A body JSON cannot hold has none:
    ``(None, UNSENT)``, which no recorded line matches (the request is refused when sent).
    """
    try:
        # Once per input line of a resumed run: one flat function.
        if isinstance(request, PromptRequest) and _BODY_SLOT.__get__(request) is _UNBUILT:
            form = request.form
            if form._hash is not None and request.url == form.url:
                state = form._hash.copy()
                state.update(orjson.dumps(request.prompt) + form._suffix)
                digest = state.digest()
                return digest.hex(), int.from_bytes(digest) & FP_MASK
        return fingerprint_and_bits(request.url, request.body)
    # orjson cannot dump a value (a set, a lone surrogate...); a url that is no string.
    except (TypeError, AttributeError):
        return None, UNSENT

"""Turn one input item into a request, or say exactly what is wrong with it.

    builder = RequestBuilder(RunOptions(model="gpt-4.1-mini", system="Be brief."))
    builder.from_line('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",'
                      ' "body": {"model": "gpt-4.1-mini", "messages": [...]}}', line=1)
    builder.from_line('{"id": "r7", "prompt": "Summarise: ..."}', line=2)
    builder.from_line("What is the capital of France?", line=3, text_mode=True)

Accepted inputs:

* OpenAI Batch API request lines (``custom_id``, ``method``, ``url``, ``body``), so one file
  works online with surge and offline with the Batch API;
* JSONL rows with ``prompt`` (a string) or ``messages`` (a chat list), optional ``id`` or
  ``custom_id``, optional ``model``/``system`` overriding the run's options, and request
  parameters (``max_tokens``, ``temperature``, ...) that go into the body as they are;
  any other key is refused by name;
* plain text, one prompt per line.

Inputs without an id get one derived from their content, ``t-`` and 12 hex digits, so
inserting or removing a line elsewhere changes no other id (a repeat of the same content
becomes ``t-...-2``, see the ledger); ``line`` still says where each came from. Every
problem becomes an :class:`InputError` naming the line (and the line's own custom_id when
it could be read), recorded as that line's result; the run goes on.

A prompt (a text line, a prompt row without request parameters of its own) becomes a
:class:`~surge.io.prompts.PromptRequest`: its body is built when something first reads
it, which a line that a resumed run skips never does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from ..config import API_PATHS, RunOptions
from ..errors import ConfigError, InputError
from ..models import Request
from .prompts import PromptForm, prompt_body

__all__ = ["BODY_PARAMS", "RequestBuilder", "content_id", "parse_param"]

SUPPORTED_URLS = frozenset(API_PATHS.values()) | {"/v1/completions", "/v1/moderations"}

_ROW_KEYS = frozenset({"id", "custom_id", "prompt", "messages", "model", "system"})
# Keys of a prompt row that are request parameters of the chat, Responses or embeddings
# APIs: they go into the body. Anything else is refused by name rather than dropped.
BODY_PARAMS = frozenset(
    {
        "audio",
        "dimensions",
        "encoding_format",
        "frequency_penalty",
        "include",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_output_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
        "verbosity",
        "web_search_options",
    }
)


_CONTENT_HASH = hashlib.blake2b(digest_size=6)
# Prompt forms kept per (model, system): a run has one, an input whose rows name their own
# models or systems a few; past this many distinct ones, rows build their bodies at once.
_MAX_FORMS = 64


def content_id(content: object) -> str:
    """An id for an input without one: ``t-`` + 12 hex digits of its content.

    ``content_id("What is 2+2?")`` is the same wherever the line sits in the file.
    """
    state = _CONTENT_HASH.copy()  # cheaper than a new blake2b with its parameters
    if isinstance(content, str):
        state.update(content.encode())
    else:
        state.update(orjson.dumps(content, option=orjson.OPT_SORT_KEYS))
    return "t-" + state.hexdigest()


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` from the CLI; the value is JSON when it parses, else a string.

    ``temperature=0`` -> ``("temperature", 0)``; ``stop=["\\n"]`` -> a list;
    ``reasoning_effort=minimal`` -> the string ``"minimal"``.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--param expects key=value, got {text!r}")
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return key, value


class RequestBuilder:
    """Builds validated :class:`Request` objects from lines, dicts and strings."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self._params = dict(options.params)
        self._forms: dict[tuple[str, str | None], PromptForm] = {}
        self._text_form = self._form(options.model, options.system) if options.model else None

    # -- entry points --------------------------------------------------------------
    def from_line(self, text: str, *, line: int, text_mode: bool = False) -> Request:
        """Parse one input line (without its newline). Raises :class:`InputError`."""
        if text_mode:
            return self.from_prompt(text.strip(), line=line)
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            raise InputError(
                f"not valid JSON ({err.args[0] if err.args else err})", line=line
            ) from None
        if isinstance(data, str):
            return self.from_prompt(data, line=line)
        if not isinstance(data, dict):
            raise InputError(
                f"expected a JSON object or string, got {type(data).__name__}", line=line
            )
        return self.from_dict(data, line=line)

    def from_item(self, item: object, *, line: int) -> Request:
        """A library-API item: a prompt string, a dict (batch line or prompt row), a Request."""
        if isinstance(item, Request):
            if item.line is None:
                item.line = line
            return item
        if isinstance(item, str):
            return self.from_prompt(item, line=line)
        if isinstance(item, Mapping):
            return self.from_dict(dict(item), line=line)
        raise InputError(f"cannot make a request from {type(item).__name__}", line=line)

    def from_dict(self, data: dict[str, Any], *, line: int) -> Request:
        if "body" in data:
            return self._batch_line(data, line)
        if "prompt" in data or "messages" in data:
            return self._prompt_row(data, line)
        keys = ", ".join(sorted(data)[:6]) or "none"
        raise InputError(
            f"object has no 'body' (Batch API line) nor 'prompt'/'messages' (keys: {keys})",
            line=line,
        )

    def from_prompt(self, prompt: str, *, line: int, custom_id: str | None = None) -> Request:
        if not prompt:
            raise InputError("empty prompt", line=line, custom_id=custom_id)
        if custom_id is not None:
            return self._build(custom_id, line, prompt=prompt)
        return self.from_text(prompt, line)

    def from_text(self, prompt: str, line: int) -> Request:
        """A plain-text line's request: ``prompt`` is stripped and not empty.

        The hot path of a text input (a resumed run passes every line through it): the
        body is left to be built when the request is sent (:mod:`surge.io.prompts`).
        """
        form = self._text_form
        if form is None:  # no model: _build says so
            request = self._build(content_id(prompt), line, prompt=prompt)
            request.content_id = True
            return request
        state = _CONTENT_HASH.copy()  # content_id(prompt), one call fewer per line
        state.update(prompt.encode())
        return form.request("t-" + state.hexdigest(), prompt, line, True)

    # -- the formats -----------------------------------------------------------------
    def _batch_line(self, data: dict[str, Any], line: int) -> Request:
        custom_id = data.get("custom_id")
        if custom_id is not None and (not isinstance(custom_id, str) or not custom_id):
            raise InputError("custom_id must be a non-empty string", line=line)
        try:
            request = self._batch_request(data, line, custom_id)
        except InputError as err:
            err.custom_id = custom_id
            raise
        if custom_id is None:
            request.custom_id = content_id([data.get("url"), data.get("body")])
            request.content_id = True
        return request

    def _batch_request(self, data: dict[str, Any], line: int, custom_id: str | None) -> Request:
        method = data.get("method", "POST")
        if not isinstance(method, str) or method.upper() != "POST":
            raise InputError(f"method must be POST, got {method!r}", line=line)
        url = data.get("url", self.options.path)
        if not isinstance(url, str) or not url.startswith("/"):
            raise InputError(
                f"url must be a path such as /v1/chat/completions, got {url!r}", line=line
            )
        path = url if url.startswith("/v1/") else "/v1" + url
        if path not in SUPPORTED_URLS:
            raise InputError(
                f"unsupported url {url!r} (use one of {', '.join(sorted(API_PATHS.values()))})",
                line=line,
            )
        body = data.get("body")
        if not isinstance(body, dict):
            raise InputError("body must be a JSON object", line=line)
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise InputError("body.model must be a string", line=line)
        if model is None:
            if self.options.model is None:
                raise InputError("body has no model (add one or pass --model)", line=line)
            # Spread first: an explicit "model": null must not override the run's model.
            body = {**body, "model": self.options.model}
        return Request(custom_id=custom_id or "", body=body, url=path, line=line)

    def _prompt_row(self, data: dict[str, Any], line: int) -> Request:
        raw_id = data.get("custom_id", data.get("id"))
        if raw_id is not None and (
            isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == ""
        ):
            raise InputError("id must be a non-empty string or an integer", line=line)
        custom_id = str(raw_id) if raw_id is not None else None
        try:
            request = self._prompt_request(data, line, custom_id)
        except InputError as err:
            err.custom_id = custom_id
            raise
        if custom_id is None:
            request.content_id = True
        return request

    def _prompt_request(self, data: dict[str, Any], line: int, custom_id: str | None) -> Request:
        extra = {key: value for key, value in data.items() if key not in _ROW_KEYS}
        unknown = sorted(key for key in extra if key not in BODY_PARAMS)
        if unknown:
            raise InputError(
                f"unknown key{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))} "
                "(a prompt row has id, prompt or messages, model, system and request "
                "parameters such as max_tokens or temperature; for others, write a Batch "
                "API line with a body)",
                line=line,
            )
        model = data.get("model")
        if model is not None and not isinstance(model, str):
            raise InputError("model must be a string", line=line)
        system = data.get("system")
        if system is not None and not isinstance(system, str):
            raise InputError("system must be a string", line=line)
        if "messages" in data:
            messages = data["messages"]
            if not isinstance(messages, list) or not messages:
                raise InputError("messages must be a non-empty list", line=line)
            for i, message in enumerate(messages):
                if not isinstance(message, dict) or "role" not in message:
                    raise InputError(f"messages[{i}] must be an object with a role", line=line)
            return self._build(
                custom_id or content_id(messages),
                line,
                messages=messages,
                model=model,
                system=system,
                extra=extra,
            )
        prompt = data["prompt"]
        if not isinstance(prompt, str) or not prompt:
            raise InputError("prompt must be a non-empty string", line=line)
        return self._build(
            custom_id or content_id(prompt),
            line,
            prompt=prompt,
            model=model,
            system=system,
            extra=extra,
        )

    def _form(self, model: str, system: str | None) -> PromptForm | None:
        key = (model, system)
        form = self._forms.get(key)
        if form is None and len(self._forms) < _MAX_FORMS:
            options = self.options
            form = self._forms[key] = PromptForm(
                options.path, options.api, model, system, self._params
            )
        return form

    def _build(
        self,
        custom_id: str,
        line: int,
        *,
        prompt: str | None = None,
        messages: list[Any] | None = None,
        model: str | None = None,
        system: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Request:
        model = model or self.options.model
        if model is None:
            raise InputError(
                "no model for this prompt: pass --model, or give the row a model", line=line
            )
        system = system if system is not None else self.options.system
        api = self.options.api
        if api == "embeddings" and prompt is None:
            raise InputError("embeddings need a prompt string, not messages", line=line)
        if prompt is not None and not extra:
            form = self._form(model, system)
            if form is not None:  # the body is built when the request is sent
                return form.request(custom_id, prompt, line)
        params = {**self._params, **extra} if extra else self._params
        body = prompt_body(api, model, system, params, prompt=prompt, messages=messages)
        return Request(custom_id=custom_id, body=body, url=self.options.path, line=line)

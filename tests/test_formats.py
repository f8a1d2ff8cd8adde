"""Input lines to requests: every accepted shape and every error message (table-driven)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from surge.config import RunOptions
from surge.errors import ConfigError, InputError
from surge.io.formats import RequestBuilder, content_id, parse_param
from surge.models import Request

MODEL = "gpt-4.1-mini"
CHAT = "/v1/chat/completions"


def builder(**options: Any) -> RequestBuilder:
    return RequestBuilder(RunOptions(**options))


def line(obj: object) -> str:
    return orjson.dumps(obj).decode()


def batch(body: object, **extra: object) -> str:
    return line({"custom_id": "r1", "method": "POST", "url": CHAT, "body": body, **extra})


# -- Batch API request lines -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/responses", "/v1/responses"),
        ("/v1/embeddings", "/v1/embeddings"),
        ("/v1/completions", "/v1/completions"),
        ("/v1/moderations", "/v1/moderations"),
        ("/chat/completions", "/v1/chat/completions"),  # /v1 is implied
        ("/responses", "/v1/responses"),
    ],
)
def test_batch_line_urls(url: str, path: str) -> None:
    body = {"model": MODEL, "input": "hi"}
    req = builder().from_line(
        line({"custom_id": "a", "method": "POST", "url": url, "body": body}), line=3
    )
    assert req == Request(custom_id="a", body=body, url=path, line=3)


def test_batch_line_defaults() -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    # No custom_id, method or url: an id from the content, POST, the run's endpoint.
    req = builder(api="responses").from_line(line({"body": body}), line=7)
    assert req.content_id
    assert (req.custom_id, req.method, req.url, req.body) == (
        content_id([None, body]),
        "POST",
        "/v1/responses",
        body,
    )


def test_batch_line_method_is_case_insensitive() -> None:
    req = builder().from_line(batch({"model": MODEL}, method="post"), line=1)
    assert req.method == "POST"


@pytest.mark.parametrize(
    ("body", "model", "expected"),
    [
        ({"model": "m-line"}, None, "m-line"),
        ({"model": "m-line"}, "m-run", "m-line"),  # the line's own model wins
        ({}, "m-run", "m-run"),
        ({"model": None}, "m-run", "m-run"),  # explicit null: filled in
    ],
)
def test_batch_line_model(body: dict[str, Any], model: str | None, expected: str) -> None:
    req = builder(model=model).from_line(batch(body), line=1)
    assert req.body["model"] == expected


def test_batch_line_params_are_not_applied() -> None:
    # Batch lines carry their own bodies; --param only shapes prompt rows.
    req = builder(params=(("temperature", 0),)).from_line(batch({"model": MODEL}), line=1)
    assert req.body == {"model": MODEL}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "line 4: not valid JSON"),
        ('{"a": 1', "line 4: not valid JSON"),
        ("[1, 2]", "line 4: expected a JSON object or string, got list"),
        ("42", "line 4: expected a JSON object or string, got int"),
        ("null", "line 4: expected a JSON object or string, got NoneType"),
        ('""', "line 4: empty prompt"),
        (
            "{}",
            "line 4: object has no 'body' (Batch API line) nor 'prompt'/'messages' (keys: none)",
        ),
        (
            line({"custom_id": "x", "url": CHAT}),
            "line 4: object has no 'body' (Batch API line) nor 'prompt'/'messages' "
            "(keys: custom_id, url)",
        ),
        (batch({"model": MODEL}, method="GET"), "line 4: method must be POST, got 'GET'"),
        (batch({"model": MODEL}, method=1), "line 4: method must be POST, got 1"),
        (
            batch({"model": MODEL}, url="https://api.example.com/v1/chat/completions"),
            "line 4: url must be a path such as /v1/chat/completions, got "
            "'https://api.example.com/v1/chat/completions'",
        ),
        (
            batch({"model": MODEL}, url=None),
            "line 4: url must be a path such as /v1/chat/completions, got None",
        ),
        (
            batch({"model": MODEL}, url="/v1/images/generations"),
            "line 4: unsupported url '/v1/images/generations' (use one of "
            "/v1/chat/completions, /v1/embeddings, /v1/responses)",
        ),
        (batch("hello"), "line 4: body must be a JSON object"),
        (batch(None), "line 4: body must be a JSON object"),
        (batch([]), "line 4: body must be a JSON object"),
        (batch({"messages": []}), "line 4: body has no model (add one or pass --model)"),
        (batch({"model": None}), "line 4: body has no model (add one or pass --model)"),
        (batch({"model": 5}), "line 4: body.model must be a string"),
        (batch({"model": MODEL}, custom_id=""), "line 4: custom_id must be a non-empty string"),
        (batch({"model": MODEL}, custom_id=7), "line 4: custom_id must be a non-empty string"),
    ],
)
def test_batch_line_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        builder().from_line(text, line=4)
    assert str(info.value).startswith(message)
    assert info.value.line == 4
    assert info.value.code == "invalid_input"


def test_batch_line_with_body_model_int_and_run_model_is_still_an_error() -> None:
    with pytest.raises(InputError, match=r"body\.model must be a string"):
        builder(model=MODEL).from_line(batch({"model": 5}), line=1)


# -- prompt rows ---------------------------------------------------------------------------


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


@pytest.mark.parametrize(
    ("row", "custom_id"),
    [
        ({"prompt": "hi"}, content_id("hi")),
        ({"id": "q1", "prompt": "hi"}, "q1"),
        ({"custom_id": "c1", "prompt": "hi"}, "c1"),
        ({"custom_id": "c1", "id": "q1", "prompt": "hi"}, "c1"),  # custom_id wins
        ({"id": 17, "prompt": "hi"}, "17"),
        ({"id": 0, "prompt": "hi"}, "0"),
        ({"id": None, "prompt": "hi"}, content_id("hi")),
        ({"messages": [user("hi")]}, content_id([user("hi")])),
    ],
)
def test_prompt_row_ids(row: dict[str, Any], custom_id: str) -> None:
    assert builder(model=MODEL).from_line(line(row), line=5).custom_id == custom_id


@pytest.mark.parametrize(
    ("options", "row", "body"),
    [
        (
            {"model": MODEL},
            {"prompt": "hi"},
            {"model": MODEL, "messages": [user("hi")]},
        ),
        (
            {"model": MODEL, "system": "Be brief."},
            {"prompt": "hi"},
            {"model": MODEL, "messages": [{"role": "system", "content": "Be brief."}, user("hi")]},
        ),
        (  # row overrides the run's model and system
            {"model": MODEL, "system": "Be brief."},
            {"prompt": "hi", "model": "m2", "system": "Be long."},
            {"model": "m2", "messages": [{"role": "system", "content": "Be long."}, user("hi")]},
        ),
        (  # an empty system on the row removes the run's system prompt
            {"model": MODEL, "system": "Be brief."},
            {"prompt": "hi", "system": ""},
            {"model": MODEL, "messages": [user("hi")]},
        ),
        (  # no run model: the row's is enough
            {},
            {"prompt": "hi", "model": "m2"},
            {"model": "m2", "messages": [user("hi")]},
        ),
        (
            {"model": MODEL},
            {"messages": [user("a"), {"role": "assistant", "content": "b"}, user("c")]},
            {
                "model": MODEL,
                "messages": [user("a"), {"role": "assistant", "content": "b"}, user("c")],
            },
        ),
        (
            {"model": MODEL, "api": "responses", "system": "Be brief."},
            {"prompt": "hi"},
            {"model": MODEL, "input": "hi", "instructions": "Be brief."},
        ),
        (
            {"model": MODEL, "api": "responses"},
            {"messages": [user("hi")]},
            {"model": MODEL, "input": [user("hi")]},
        ),
        (
            {"model": "text-embedding-3-small", "api": "embeddings", "system": "ignored"},
            {"prompt": "hi"},
            {"model": "text-embedding-3-small", "input": "hi"},
        ),
    ],
)
def test_prompt_row_bodies(
    options: dict[str, Any], row: dict[str, Any], body: dict[str, Any]
) -> None:
    b = builder(**options)
    req = b.from_line(line(row), line=1)
    assert req.body == body
    assert req.url == b.options.path
    assert req.method == "POST"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": ""}, "line 2: prompt must be a non-empty string"),
        ({"prompt": 5}, "line 2: prompt must be a non-empty string"),
        ({"prompt": None}, "line 2: prompt must be a non-empty string"),
        ({"messages": []}, "line 2: messages must be a non-empty list"),
        ({"messages": "hi"}, "line 2: messages must be a non-empty list"),
        ({"messages": ["hi"]}, "line 2: messages[0] must be an object with a role"),
        ({"messages": [user("a"), {"content": "b"}]}, "line 2: messages[1] must be an object"),
        ({"prompt": "hi", "id": [1]}, "line 2: id must be a non-empty string or an integer"),
        ({"prompt": "hi", "id": ""}, "line 2: id must be a non-empty string or an integer"),
        ({"prompt": "hi", "id": True}, "line 2: id must be a non-empty string or an integer"),
        ({"prompt": "hi", "id": 1.5}, "line 2: id must be a non-empty string or an integer"),
        ({"prompt": "hi", "model": 4}, "line 2: model must be a string"),
        ({"prompt": "hi", "system": ["x"]}, "line 2: system must be a string"),
    ],
)
def test_prompt_row_errors(row: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        builder(model=MODEL).from_line(line(row), line=2)
    assert str(info.value).startswith(message)
    assert info.value.line == 2


def test_embeddings_reject_messages() -> None:
    with pytest.raises(InputError, match="line 3: embeddings need a prompt string"):
        builder(model=MODEL, api="embeddings").from_line(line({"messages": [user("x")]}), line=3)


@pytest.mark.parametrize(
    ("text", "text_mode"),
    [
        (line({"prompt": "hi"}), False),
        (line({"messages": [user("hi")]}), False),
        ('"hi"', False),
        ("hi", True),
    ],
)
def test_prompt_without_any_model_is_an_input_error(text: str, text_mode: bool) -> None:
    # One bad line, recorded as such: the rest of the run goes on.
    with pytest.raises(InputError, match="line 9: no model for this prompt"):
        builder().from_line(text, line=9, text_mode=text_mode)


def test_an_invalid_line_keeps_its_own_custom_id() -> None:
    with pytest.raises(InputError) as info:
        builder().from_line(line({"id": "b", "prompt": "hi"}), line=3)
    assert info.value.custom_id == "b"
    with pytest.raises(InputError) as info:
        builder().from_line(batch({"messages": []}, custom_id="c", url="/v9/x"), line=4)
    assert info.value.custom_id == "c"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"max_tokens": 5, "temperature": 0}, {"max_tokens": 5, "temperature": 0}),
        (
            {"response_format": {"type": "json_object"}},
            {"response_format": {"type": "json_object"}},
        ),
    ],
)
def test_prompt_row_parameters_go_into_the_body(
    row: dict[str, Any], expected: dict[str, Any]
) -> None:
    req = builder(model=MODEL, params=(("temperature", 1),)).from_line(
        line({"prompt": "hi", **row}), line=1
    )
    for key, value in expected.items():
        assert req.body[key] == value
    assert req.body["messages"] == [user("hi")]


def test_prompt_row_unknown_keys_are_refused_by_name() -> None:
    with pytest.raises(InputError, match="unknown keys 'category', 'tempreature'"):
        builder(model=MODEL).from_line(
            line({"prompt": "hi", "tempreature": 0, "category": "math"}), line=1
        )


# -- strings and plain text ------------------------------------------------------------------


def test_json_string_line_is_a_prompt() -> None:
    req = builder(model=MODEL).from_line('"What is 2+2?"', line=6)
    assert req.custom_id == content_id("What is 2+2?")
    assert req.body == {"model": MODEL, "messages": [user("What is 2+2?")]}


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("What is the capital of France?", "What is the capital of France?"),
        ("  padded  ", "padded"),
        ('{"prompt": "not parsed"}', '{"prompt": "not parsed"}'),  # text mode takes it literally
    ],
)
def test_text_mode(text: str, prompt: str) -> None:
    req = builder(model=MODEL).from_line(text, line=2, text_mode=True)
    assert req.custom_id == content_id(prompt) and req.content_id and req.line == 2
    assert req.body["messages"] == [user(prompt)]


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_text_mode_empty_prompt(text: str) -> None:
    with pytest.raises(InputError, match="line 1: empty prompt"):
        builder(model=MODEL).from_line(text, line=1, text_mode=True)


# -- library items ---------------------------------------------------------------------------


def test_from_item_shapes() -> None:
    b = builder(model=MODEL)
    assert b.from_item("hi", line=1).body["messages"] == [user("hi")]
    assert b.from_item({"id": "x", "prompt": "hi"}, line=2).custom_id == "x"
    assert b.from_item({"body": {"model": MODEL}}, line=3).custom_id == content_id(
        [None, {"model": MODEL}]
    )
    req = Request(custom_id="mine", body={"model": MODEL})
    assert b.from_item(req, line=4) is req
    assert req.line == 4
    kept = Request(custom_id="kept", body={}, line=99)
    assert b.from_item(kept, line=5).line == 99
    with pytest.raises(InputError, match="line 6: cannot make a request from int"):
        b.from_item(42, line=6)


# -- --param ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("temperature=0", ("temperature", 0)),
        ("temperature=0.7", ("temperature", 0.7)),
        ('stop=["x"]', ("stop", ["x"])),
        ("reasoning_effort=minimal", ("reasoning_effort", "minimal")),
        ("stream=false", ("stream", False)),
        ("seed=null", ("seed", None)),
        ('response_format={"type": "json_object"}', ("response_format", {"type": "json_object"})),
        ("text.verbosity=low", ("text.verbosity", "low")),
        ("user=a=b", ("user", "a=b")),  # only the first = splits
        ("suffix=", ("suffix", "")),
        (" top_p =1", ("top_p", 1)),
    ],
)
def test_parse_param(text: str, pair: tuple[str, Any]) -> None:
    assert parse_param(text) == pair


@pytest.mark.parametrize("text", ["temperature", "=0", " =1", ""])
def test_parse_param_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--param expects key=value"):
        parse_param(text)


@pytest.mark.parametrize(
    ("api", "params", "expected"),
    [
        ("chat", ["temperature=0"], {"temperature": 0}),
        ("chat", ["reasoning_effort=minimal"], {"reasoning_effort": "minimal"}),
        ("responses", ["reasoning_effort=minimal"], {"reasoning": {"effort": "minimal"}}),
        ("responses", ["text.verbosity=low"], {"text": {"verbosity": "low"}}),
        (
            "responses",
            ['text={"format": {"type": "text"}}', "text.verbosity=low"],
            {"text": {"format": {"type": "text"}, "verbosity": "low"}},
        ),
        ("chat", ['stop=["x"]', "max_tokens=5"], {"stop": ["x"], "max_tokens": 5}),
        ("chat", ["a.b.c=1"], {"a": {"b": {"c": 1}}}),
        ("chat", ["a=1", "a.b=2"], {"a": {"b": 2}}),  # a scalar is replaced by the nested key
    ],
)
def test_params_shape_prompt_bodies(api: str, params: list[str], expected: dict[str, Any]) -> None:
    b = builder(model=MODEL, api=api, params=tuple(parse_param(p) for p in params))
    body = b.from_line("hi", line=1, text_mode=True).body
    extra = {k: v for k, v in body.items() if k not in ("model", "messages", "input")}
    assert extra == expected

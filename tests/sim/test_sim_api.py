"""End-to-end over HTTP: shapes, validation, auth, determinism, usage, structured outputs."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import jsonschema
import pytest

from surge_sim import SimConfig, Simulator, prompt_digest
from surge_sim.content import count_tokens

from .helpers import chat, post


async def test_chat_completion_shape_and_tag(sim: Simulator) -> None:
    status, body, headers = await post(sim, "/chat/completions", chat("What is 2+2?"))
    assert status == 200
    assert re.fullmatch(r"req_[0-9a-f]+", headers["x-request-id"])
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4o-mini"
    assert isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert content.startswith(f"[sim:{prompt_digest('What is 2+2?')}] ")
    usage = body["usage"]
    assert usage["completion_tokens"] == count_tokens(content)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert "x-ratelimit-limit-requests" not in headers  # no limits configured


async def test_prompt_tokens_grow_with_messages(sim: Simulator) -> None:
    long_text = "word " * 200
    _, short, _ = await post(sim, "/chat/completions", chat("hi"))
    _, long, _ = await post(sim, "/chat/completions", chat(long_text))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    _, two, _ = await post(sim, "/chat/completions", {"model": "m", "messages": messages})
    assert long["usage"]["prompt_tokens"] - short["usage"]["prompt_tokens"] == (
        count_tokens(long_text) - count_tokens("hi")
    )
    assert two["usage"]["prompt_tokens"] > short["usage"]["prompt_tokens"] + count_tokens(
        "Be brief."
    )


async def test_same_request_same_answer_different_request_different(sim: Simulator) -> None:
    _, a1, _ = await post(sim, "/chat/completions", chat("alpha"))
    _, a2, _ = await post(sim, "/chat/completions", chat("alpha"))
    _, b, _ = await post(sim, "/chat/completions", chat("beta"))
    text = lambda body: body["choices"][0]["message"]["content"]  # noqa: E731
    assert text(a1) == text(a2)
    assert text(a1) != text(b)
    assert a1["id"] != a2["id"]


async def test_the_tag_follows_the_last_user_message(sim: Simulator) -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    _, body, _ = await post(sim, "/chat/completions", {"model": "m", "messages": messages})
    assert body["choices"][0]["message"]["content"].startswith(f"[sim:{prompt_digest('second')}]")


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_caps_with_finish_reason_length(sim: Simulator, field: str) -> None:
    _, body, _ = await post(sim, "/chat/completions", chat("cap me", **{field: 3}))
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3 == count_tokens(choice["message"]["content"])


async def test_n_choices(sim: Simulator) -> None:
    _, body, _ = await post(sim, "/chat/completions", chat("many", n=3))
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert body["usage"]["completion_tokens"] == sum(
        count_tokens(c["message"]["content"]) for c in body["choices"]
    )


async def test_responses_api_shape(sim: Simulator) -> None:
    status, body, headers = await post(
        sim, "/responses", {"model": "gpt-4o-mini", "input": "Hi there"}
    )
    assert status == 200 and headers["x-request-id"].startswith("req_")
    assert body["object"] == "response" and body["id"].startswith("resp_")
    assert body["status"] == "completed"
    (item,) = body["output"]
    assert (
        item["type"] == "message" and item["role"] == "assistant" and item["status"] == "completed"
    )
    (part,) = item["content"]
    assert part["type"] == "output_text" and part["annotations"] == []
    assert part["text"].startswith(f"[sim:{prompt_digest('Hi there')}] ")
    usage = body["usage"]
    assert usage["output_tokens"] == count_tokens(part["text"])
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


async def test_responses_capped_is_incomplete(sim: Simulator) -> None:
    _, body, _ = await post(sim, "/responses", {"model": "m", "input": "x", "max_output_tokens": 2})
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["usage"]["output_tokens"] == 2


async def test_responses_input_items(sim: Simulator) -> None:
    items = [
        {"role": "system", "content": "be terse"},
        {"role": "user", "content": [{"type": "input_text", "text": "question"}]},
    ]
    _, body, _ = await post(sim, "/responses", {"model": "m", "input": items, "instructions": "x"})
    assert body["output"][0]["content"][0]["text"].startswith(f"[sim:{prompt_digest('question')}]")


async def test_embeddings(sim: Simulator) -> None:
    _, body, _ = await post(
        sim, "/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b c"]}
    )
    assert body["object"] == "list" and body["model"] == "text-embedding-3-small"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 64 for d in body["data"])
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    _, small, _ = await post(sim, "/embeddings", {"model": "m", "input": "a", "dimensions": 8})
    assert len(small["data"][0]["embedding"]) == 8
    _, b64, _ = await post(
        sim, "/embeddings", {"model": "m", "input": "a", "encoding_format": "base64"}
    )
    assert isinstance(b64["data"][0]["embedding"], str)


async def test_models_and_paths_without_v1(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.base_url + "/models") as resp:
            models = await resp.json()
        async with session.get(sim.url + "/models") as resp:
            assert resp.status == 200
        async with session.post(sim.url + "/chat/completions", json=chat()) as resp:
            assert resp.status == 200
        async with session.post(sim.base_url + "/nope", json={}) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["type"] == "invalid_request_error"
    assert models["object"] == "list"
    assert {
        "id": "gpt-4o-mini",
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "surge-sim",
    } in (models["data"])


BAD_REQUESTS: list[tuple[str, Any, str | None, str | None]] = [
    (
        "/chat/completions",
        {"messages": [{"role": "user", "content": "x"}]},
        "model",
        "missing_required_parameter",
    ),
    (
        "/chat/completions",
        {"model": 3, "messages": [{"role": "user", "content": "x"}]},
        "model",
        "invalid_type",
    ),
    ("/chat/completions", {"model": "m"}, "messages", "missing_required_parameter"),
    ("/chat/completions", {"model": "m", "messages": []}, "messages", "empty_array"),
    ("/chat/completions", {"model": "m", "messages": "hi"}, "messages", "invalid_type"),
    (
        "/chat/completions",
        {"model": "m", "messages": [{"content": "x"}]},
        "messages[0].role",
        "missing_required_parameter",
    ),
    (
        "/chat/completions",
        {"model": "m", "messages": [{"role": "bot", "content": "x"}]},
        "messages[0].role",
        "invalid_value",
    ),
    ("/chat/completions", chat(max_tokens="9"), "max_tokens", "invalid_type"),
    ("/chat/completions", chat(max_tokens=0), "max_tokens", "integer_below_min_value"),
    ("/chat/completions", chat(temperature=3), "temperature", "invalid_value"),
    ("/chat/completions", chat(stream=True), "stream", "unsupported_value"),
    (
        "/chat/completions",
        chat(response_format={"type": "xml"}),
        "response_format.type",
        "invalid_value",
    ),
    (
        "/chat/completions",
        chat(response_format={"type": "json_schema"}),
        "response_format.json_schema",
        "missing_required_parameter",
    ),
    ("/chat/completions", [1, 2], "body", "invalid_type"),
    ("/responses", {"model": "m"}, "input", "missing_required_parameter"),
    ("/responses", {"model": "m", "input": 5}, "input", "invalid_type"),
    ("/embeddings", {"model": "m"}, "input", "missing_required_parameter"),
    ("/embeddings", {"model": "m", "input": [1.5]}, "input", "invalid_value"),
    (
        "/embeddings",
        {"model": "m", "input": "x", "dimensions": 0},
        "dimensions",
        "integer_below_min_value",
    ),
]


@pytest.mark.parametrize(("path", "body", "param", "code"), BAD_REQUESTS)
async def test_validation_errors(
    sim: Simulator, path: str, body: Any, param: str | None, code: str | None
) -> None:
    status, payload, headers = await post(sim, path, body)
    assert status == 400
    assert set(payload) == {"error"}
    err = payload["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert (err["param"], err["code"]) == (param, code)
    assert err["message"]
    assert headers["x-request-id"].startswith("req_")


async def test_invalid_json(sim: Simulator) -> None:
    status, payload, _ = await post(sim, "/chat/completions", None, raw=b'{"model": ')
    assert status == 400
    assert "could not parse the JSON body" in payload["error"]["message"]


async def test_auth(sim_factory: Any) -> None:
    sim = sim_factory(api_key="sk-right")
    status, body, _ = await post(sim, "/chat/completions", chat())
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body, _ = await post(
        sim, "/chat/completions", chat(), headers={"Authorization": "Bearer sk-wrong-secret"}
    )
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert "sk-wrong-secret" not in body["error"]["message"]
    assert "sk-right" not in body["error"]["message"]
    status, _, _ = await post(
        sim, "/chat/completions", chat(), headers={"Authorization": "Bearer sk-right"}
    )
    assert status == 200
    assert "sk-right" not in repr(sim.config)


SENTIMENT_SCHEMA = {
    "properties": {
        "sentiment": {
            "enum": ["positive", "negative", "neutral"],
            "title": "Sentiment",
            "type": "string",
        },
        "score": {"title": "Score", "type": "number"},
    },
    "required": ["sentiment", "score"],
    "title": "Sentiment",
    "type": "object",
    "additionalProperties": False,
}


async def test_structured_output_chat(sim: Simulator) -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "s", "strict": True, "schema": SENTIMENT_SCHEMA},
    }
    _, body, _ = await post(sim, "/chat/completions", chat("I love it", response_format=fmt))
    content = body["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), SENTIMENT_SCHEMA)
    assert body["usage"]["completion_tokens"] == count_tokens(content)
    _, again, _ = await post(sim, "/chat/completions", chat("I love it", response_format=fmt))
    assert again["choices"][0]["message"]["content"] == content


async def test_structured_output_responses_and_json_object(sim: Simulator) -> None:
    fmt = {"format": {"type": "json_schema", "name": "s", "schema": SENTIMENT_SCHEMA}}
    _, body, _ = await post(sim, "/responses", {"model": "m", "input": "meh", "text": fmt})
    jsonschema.validate(json.loads(body["output"][0]["content"][0]["text"]), SENTIMENT_SCHEMA)
    _, obj, _ = await post(
        sim, "/chat/completions", chat("x", response_format={"type": "json_object"})
    )
    assert json.loads(obj["choices"][0]["message"]["content"])["sim"] == prompt_digest("x")


async def test_unsatisfiable_schema_is_a_400(sim: Simulator) -> None:
    schema = {"type": "integer", "minimum": 2, "maximum": 1}
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    status, body, _ = await post(sim, "/chat/completions", chat(response_format=fmt))
    assert status == 400 and body["error"]["code"] == "invalid_json_schema"


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="add up"):
        SimConfig(error_500=0.6, error_503=0.6)
    with pytest.raises(ValueError, match="rate"):
        SimConfig(reset=1.5)
    with pytest.raises(ValueError):
        SimConfig(rpm=0)

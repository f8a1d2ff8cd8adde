"""The pure parts of structured outputs: request fields, verdicts, re-ask bodies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import BaseModel, Field

from surge._schema import OutputSchema, judge, load_schema, reask_body, reasks_so_far
from surge.errors import ConfigError

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)
    home: Address
    tags: list[str] = []


JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer"}},
    "required": ["label", "n"],
    "additionalProperties": False,
}


def _chat(content: Any, *, refusal: str | None = None, finish: str = "stop") -> dict[str, Any]:
    message = {"role": "assistant", "content": content, "refusal": refusal}
    return {"object": "chat.completion", "choices": [{"message": message, "finish_reason": finish}]}


def _responses(parts: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "object": "response",
        "status": status,
        "output": [{"type": "message", "role": "assistant", "content": parts}],
    }


def test_pydantic_model_becomes_a_strict_schema() -> None:
    schema = OutputSchema.coerce(Person)
    assert schema.name == "Person" and schema.strict and schema.model is Person
    root = schema.schema
    assert root["additionalProperties"] is False
    assert root["required"] == ["name", "age", "home", "tags"]  # optional ones too
    home = root["properties"]["home"]
    assert "$ref" in home or home.get("additionalProperties") is False
    address = root["$defs"]["Address"]
    assert address["required"] == ["city", "zip"] and address["additionalProperties"] is False
    assert "default" not in address["properties"]["zip"]  # None defaults dropped


@pytest.mark.parametrize(
    ("value", "name", "strict"),
    [
        (JSON_SCHEMA, "answer", True),
        ({"name": "lbl", "schema": JSON_SCHEMA, "strict": False}, "lbl", False),
        (
            {"type": "json_schema", "json_schema": {"name": "x y", "schema": JSON_SCHEMA}},
            "x_y",
            True,
        ),
    ],
)
def test_dict_schemas_and_wrappers(value: dict[str, Any], name: str, strict: bool) -> None:
    schema = OutputSchema.coerce(value)
    assert (schema.name, schema.strict, schema.schema) == (name, strict, JSON_SCHEMA)


def test_coerce_rejects_other_things() -> None:
    with pytest.raises(ConfigError, match="pydantic model class or a JSON schema"):
        OutputSchema.coerce("Person")


def test_apply_per_api() -> None:
    schema = OutputSchema.coerce(JSON_SCHEMA)
    chat = schema.apply({"model": "m", "messages": []}, CHAT)
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": JSON_SCHEMA, "strict": True},
    }
    resp = schema.apply({"model": "m", "input": "x", "text": {"verbosity": "low"}}, RESPONSES)
    assert resp["text"] == {
        "verbosity": "low",
        "format": {"type": "json_schema", "name": "answer", "schema": JSON_SCHEMA, "strict": True},
    }
    own = {"model": "m", "messages": [], "response_format": {"type": "json_object"}}
    assert schema.apply(own, CHAT) is own  # the caller's own format wins
    with pytest.raises(ConfigError, match="embeddings"):
        schema.apply({"model": "m", "input": "x"}, "/v1/embeddings")


VALID = orjson.dumps({"label": "a", "n": 3}).decode()


@pytest.mark.parametrize(
    ("body", "url", "kind", "message"),
    [
        (_chat(VALID), CHAT, "ok", ""),
        (_chat('{"label": "a", "n"'), CHAT, "invalid", "not valid JSON"),
        (_chat('{"label": "c", "n": 1}'), CHAT, "invalid", "at label"),
        (_chat('{"label": "a"}'), CHAT, "invalid", "'n' is a required property"),
        (_chat(None, refusal="I can't help with that."), CHAT, "refusal", "can't help"),
        (_chat('{"label": "a", "n": 1', finish="length"), CHAT, "truncated", "token limit"),
        (_chat(None), CHAT, "empty", "no text"),
        (_responses([{"type": "output_text", "text": VALID}]), RESPONSES, "ok", ""),
        (_responses([{"type": "refusal", "refusal": "No."}]), RESPONSES, "refusal", "No."),
        (
            _responses([{"type": "output_text", "text": '{"la'}], status="incomplete"),
            RESPONSES,
            "truncated",
            "cut off",
        ),
        ("not a dict", CHAT, "empty", "no text"),
    ],
)
def test_judge(body: Any, url: str, kind: str, message: str) -> None:
    verdict = judge(body, url, OutputSchema.coerce(JSON_SCHEMA))
    assert verdict.kind == kind
    assert message in verdict.message
    if kind == "ok":
        assert verdict.parsed == {"label": "a", "n": 3}


def test_judge_with_a_model_gives_an_instance_or_field_errors() -> None:
    schema = OutputSchema.coerce(Person)
    good = {"name": "Ana", "age": 30, "home": {"city": "Porto", "zip": None}, "tags": []}
    verdict = judge(_chat(orjson.dumps(good).decode()), CHAT, schema)
    assert verdict.kind == "ok" and isinstance(verdict.parsed, Person)
    assert verdict.parsed.home.city == "Porto"
    bad = {**good, "age": -1, "home": {}}
    verdict = judge(_chat(orjson.dumps(bad).decode()), CHAT, schema)
    assert verdict.kind == "invalid"
    assert "age:" in verdict.message and "home.city: Field required" in verdict.message


@pytest.mark.parametrize(
    ("body", "url", "key", "before"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "q"}]}, CHAT, "messages", 1),
        ({"model": "m", "input": "q"}, RESPONSES, "input", 1),
        ({"model": "m", "input": [{"role": "user", "content": "q"}]}, RESPONSES, "input", 1),
    ],
)
def test_reask_appends_reply_and_error(
    body: dict[str, Any], url: str, key: str, before: int
) -> None:
    once = reask_body(body, url, "{bad", "not valid JSON")
    assert reasks_so_far(body, body, url) == 0
    assert reasks_so_far(body, once, url) == 1
    turns = once[key]
    assert len(turns) == before + 2
    assert turns[-2] == {"role": "assistant", "content": "{bad"}
    assert turns[-1]["role"] == "user" and "not valid JSON" in turns[-1]["content"]
    twice = reask_body(once, url, "{}", "missing")
    assert reasks_so_far(body, twice, url) == 2
    assert body[key] != once[key]  # the original is untouched


def test_load_schema_from_file_and_module(tmp_path: Any) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(orjson.dumps(JSON_SCHEMA))
    assert load_schema(str(path)).schema == JSON_SCHEMA
    # (imported under its module path, so a distinct class object from this one)
    assert load_schema("tests.test_schema:Person").model.__name__ == "Person"
    with pytest.raises(ConfigError, match="cannot import"):
        load_schema("no_such_module_xyz:Model")
    with pytest.raises(ConfigError, match="has no 'Nope'"):
        load_schema("tests.test_schema:Nope")
    with pytest.raises(ConfigError, match=r"FILE\.json or package\.module:Model"):
        load_schema("nothing-here")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_schema(str(tmp_path / "bad.json"))


def test_fields_for_columns() -> None:
    assert OutputSchema.coerce(JSON_SCHEMA).fields() == [("label", "string"), ("n", "integer")]
    assert OutputSchema.coerce({"type": "array"}).fields() == []

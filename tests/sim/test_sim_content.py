"""Pure parts of replies: digest tag, filler, token counts, embeddings, structured outputs."""

from __future__ import annotations

import hashlib
import math
from typing import Any, Literal

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from surge_sim import prompt_digest
from surge_sim.content import (
    _WORDS,
    MAX_FILLER_WORDS,
    count_tokens,
    embedding_vector,
    reply_text,
)
from surge_sim.schema_instance import SchemaError, instance


def test_prompt_digest_is_12_hex_of_sha256() -> None:
    assert prompt_digest("hello") == hashlib.sha256(b"hello").hexdigest()[:12]


def test_filler_words_are_one_token_each() -> None:
    assert all(count_tokens(" " + w) == 1 for w in _WORDS)


def test_reply_is_deterministic_tagged_and_counted_exactly() -> None:
    digest = prompt_digest("What is 2+2?")
    text, tokens = reply_text(digest, seed=0)
    assert text.startswith(f"[sim:{digest}] ")
    assert (text, tokens) == reply_text(digest, seed=0)
    assert tokens == count_tokens(text)
    assert reply_text(digest, seed=1)[0] != text  # the seed changes the filler, not the tag
    assert reply_text(digest, seed=1)[0].startswith(f"[sim:{digest}] ")


def test_reply_lengths_spread_over_the_range() -> None:
    lengths = {len(reply_text(prompt_digest(str(i)))[0].split()) - 1 for i in range(300)}
    assert min(lengths) >= 5 and max(lengths) <= MAX_FILLER_WORDS
    assert len(lengths) > 30


def test_embeddings_are_deterministic_unit_vectors() -> None:
    vec = embedding_vector("hello", 64)
    assert len(vec) == 64
    assert math.sqrt(sum(v * v for v in vec)) == pytest.approx(1.0, abs=1e-5)
    assert vec == embedding_vector("hello", 64)
    assert vec != embedding_vector("hellp", 64)


class Sentiment(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    score: float


class Review(BaseModel):
    title: str
    stars: int
    tags: list[str]
    verdict: Sentiment
    others: list[Sentiment] = []
    note: str | None = None


SCHEMAS: list[dict[str, Any]] = [
    Sentiment.model_json_schema(),
    Review.model_json_schema(),
    {
        "type": "object",
        "properties": {"a": {"const": 3}},
        "required": ["a"],
        "additionalProperties": False,
    },
    {"type": "array", "items": {"type": "integer", "minimum": 5, "maximum": 7}, "minItems": 3},
    {"type": "array", "items": {"enum": ["x", "y", "z"]}, "minItems": 3, "uniqueItems": True},
    {"type": "string", "minLength": 40, "maxLength": 50},
    {"type": "string", "maxLength": 3},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "integer", "multipleOf": 7, "minimum": 10, "maximum": 20},
    {"type": ["null", "boolean"]},
    {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0.5, "maximum": 0.6}]},
    {
        "anyOf": [{"type": "null"}, {"$ref": "#/definitions/Point"}],
        "definitions": {
            "Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
        },
    },
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
        ]
    },
    {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
    {"type": "string", "format": "date-time"},
    {"prefixItems": [{"type": "string"}, {"type": "integer"}], "type": "array"},
    {},
]


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("key", ["", "abc", "0123456789ab"])
def test_instance_validates(schema: dict[str, Any], key: str) -> None:
    value = instance(schema, key=key)
    jsonschema.validate(value, schema)
    assert instance(schema, key=key) == value


def test_pydantic_model_round_trips() -> None:
    value = instance(Review.model_json_schema(), key="k1")
    review = Review.model_validate(value)
    assert review.verdict.sentiment in ("positive", "negative", "neutral")


def test_unsatisfiable_schema_raises() -> None:
    with pytest.raises(SchemaError):
        instance({"type": "integer", "minimum": 5, "maximum": 4})
    with pytest.raises(SchemaError):
        instance({"$ref": "#/$defs/Missing"})


_leaf = st.one_of(
    st.just({"type": "string"}),
    st.builds(
        lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
        st.integers(-50, 50),
        st.integers(0, 20),
    ),
    st.builds(lambda lo: {"type": "number", "minimum": lo}, st.floats(-1e3, 1e3)),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True).map(
        lambda xs: {"enum": xs}
    ),
    st.text(max_size=5).map(lambda x: {"const": x}),
    st.builds(
        lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
        st.integers(0, 30),
        st.integers(0, 5),
    ),
)


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.builds(
        lambda props, closed, data: {
            "type": "object",
            "properties": props,
            "required": sorted(k for k in props if data.draw(st.booleans())),
            "additionalProperties": not closed,
        },
        st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), children, max_size=4),
        st.booleans(),
        st.data(),
    )
    arrays = st.builds(
        lambda item, lo: {"type": "array", "items": item, "minItems": lo},
        children,
        st.integers(0, 3),
    )
    unions = st.lists(children, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs})
    return st.one_of(objects, arrays, unions)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=st.recursive(_leaf, _extend, max_leaves=12), key=st.text(max_size=12))
def test_instance_validates_varied_schemas(schema: dict[str, Any], key: str) -> None:
    jsonschema.validate(instance(schema, key=key), schema)

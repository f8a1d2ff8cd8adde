"""Prompt requests: bodies built on first read, fingerprints from a per-run template that
must give exactly the bytes the full dump gives (or outputs written before stop resuming)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from surge.config import API_PATHS, RunOptions
from surge.io.digests import DigestMap, id_digest
from surge.io.formats import RequestBuilder, content_id
from surge.io.ledger import Ledger, Skip
from surge.io.prompts import PromptForm, PromptRequest, prompt_body, request_fingerprint
from surge.io.records import (
    RECORDED,
    UNSENT,
    fingerprint,
    fingerprint_and_bits,
    fingerprint_bits,
)
from surge.models import Request

MODEL = "gpt-4.1-mini"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
# Keys that shape the body (dotted paths, the Responses reasoning effort) or collide
# with the prompt's own place in it, and arbitrary ones.
param_keys = st.sampled_from(
    [
        "temperature",
        "max_tokens",
        "text.verbosity",
        "reasoning_effort",
        "metadata.a.b",
        "messages",
        "messages.0",
        "model",
        "input",
        "instructions",
    ]
) | st.text(min_size=1, max_size=8)
apis = st.sampled_from(sorted(API_PATHS))


@settings(max_examples=400, deadline=None)
@given(
    api=apis,
    model=st.text(min_size=1, max_size=10),
    system=st.none() | st.text(max_size=20),
    params=st.dictionaries(param_keys, json_values, max_size=4),
    prompt=st.text(min_size=1, max_size=40),
)
@example(api="chat", model=MODEL, system=None, params={}, prompt='say "hi"\n\\ \u2028 🎉')
@example(api="chat", model=MODEL, system="\x00surge:prompt\x00", params={}, prompt="x")
@example(api="responses", model=MODEL, system="s", params={"input": 1}, prompt="x")
def test_template_fingerprint_is_the_full_dumps(
    api: str, model: str, system: str | None, params: dict[str, Any], prompt: str
) -> None:
    url = API_PATHS[api]
    form = PromptForm(url, api, model, system, params)
    request = form.request("t-1", prompt, 1)
    fast = request_fingerprint(request)
    body = prompt_body(api, model, system, params, prompt=prompt)
    assert fast == fingerprint_and_bits(url, body)
    assert request.body == body


def test_the_template_is_used_and_the_body_left_unbuilt() -> None:
    params = {"temperature": 0, "text.verbosity": "low", "stop": ["\n"]}
    for api in API_PATHS:
        form = PromptForm(API_PATHS[api], api, MODEL, "Be brief.", params)
        request = form.request("t-1", "What is 2+2?", 4)
        fingerprint, bits = request_fingerprint(request)
        assert not request.built
        assert (fingerprint, bits) == fingerprint_and_bits(request.url, request.body)
        assert request.built


def test_a_parameter_in_the_prompts_place_falls_back_to_the_body() -> None:
    messages = [{"role": "user", "content": "fixed"}]
    form = PromptForm(API_PATHS["chat"], "chat", MODEL, None, {"messages": messages})
    a, b = form.request("a", "one", 1), form.request("b", "two", 2)
    assert request_fingerprint(a) == request_fingerprint(b)  # the prompt is overwritten
    assert a.body == {"model": MODEL, "messages": messages}


def test_a_changed_body_is_what_gets_fingerprinted() -> None:
    # Table runs set body keys after building (set_dotted on request.body).
    form = PromptForm(API_PATHS["chat"], "chat", MODEL, None, {})
    request = form.request("t-1", "hello", 1)
    before = request_fingerprint(request)
    request.body["max_tokens"] = 5
    after = request_fingerprint(request)
    assert after != before
    assert after == fingerprint_and_bits(request.url, request.body)
    request.url = "/v1/responses"  # not what the template was made for
    assert request_fingerprint(request) == fingerprint_and_bits("/v1/responses", request.body)


def test_a_body_json_cannot_hold_has_no_fingerprint() -> None:
    form = PromptForm(API_PATHS["chat"], "chat", MODEL, None, {})
    assert request_fingerprint(form.request("a", "lone \ud800 surrogate", 1)) == (None, UNSENT)
    unjson = PromptForm(API_PATHS["chat"], "chat", MODEL, None, {"metadata": {1, 2}})
    assert request_fingerprint(unjson.request("b", "fine", 1)) == (None, UNSENT)
    plain = Request(custom_id="c", body={"model": MODEL, "x": object()})
    assert request_fingerprint(plain) == (None, UNSENT)


def test_a_lazy_request_sets_every_field_a_request_has() -> None:
    request = PromptForm(API_PATHS["chat"], "chat", MODEL, None, {}).request("t-1", "hi", 7)
    built = Request(custom_id="t-1", body=request.body, line=7)
    for field in dataclasses.fields(Request):
        assert getattr(request, field.name) == getattr(built, field.name), field.name


def test_a_lazy_request_behaves_as_a_request() -> None:
    form = PromptForm(API_PATHS["chat"], "chat", MODEL, "sys", {"stop": ["x"]})
    twin = form.request("t-1", "hello", 3)
    for other in (
        pickle.loads(pickle.dumps(form.request("t-1", "hello", 3))),
        copy.deepcopy(form.request("t-1", "hello", 3)),
    ):
        assert isinstance(other, PromptRequest) and other == twin
    renamed = dataclasses.replace(form.request("t-1", "hello", 3), custom_id="mine")
    assert (renamed.custom_id, renamed.body) == ("mine", twin.body)
    assert request_fingerprint(renamed) == request_fingerprint(form.request("x", "hello", 1))
    # Each body owns its values.
    first, second = form.request("a", "p", 1).body, form.request("b", "p", 2).body
    first["stop"].append("y")
    assert second["stop"] == ["x"]


@pytest.mark.parametrize("api", sorted(API_PATHS))
def test_builder_requests_carry_the_bodies_they_always_had(api: str) -> None:
    options = RunOptions(api=api, model=MODEL, system="S", params=(("temperature", 0.5),))
    builder = RequestBuilder(options)
    text = builder.from_text("a prompt", 2)
    row = builder.from_line('{"prompt": "a prompt", "model": "other", "system": "T"}', line=3)
    assert isinstance(text, PromptRequest) and not text.built
    assert text.custom_id == content_id("a prompt") and text.content_id
    params = {"temperature": 0.5}
    assert text.body == prompt_body(api, MODEL, "S", params, prompt="a prompt")
    assert row.body == prompt_body(api, "other", "T", params, prompt="a prompt")
    assert request_fingerprint(row) == fingerprint_and_bits(row.url, row.body)


def test_a_resume_skips_prompts_without_building_their_bodies() -> None:
    def builder(system: str) -> RequestBuilder:
        return RequestBuilder(RunOptions(model=MODEL, system=system, params=(("seed", 1),)))

    sent = [builder("S").from_text(f"prompt {i}", i + 1) for i in range(50)]
    output = DigestMap()
    for request in sent:  # what a finished run's output holds
        output[id_digest(request.custom_id)] = RECORDED | fingerprint_bits(
            fingerprint(request.url, request.body)
        )
    again = [builder("S").from_text(f"prompt {i}", i + 1) for i in range(51)]
    admissions = [Ledger(output).admit(request) for request in again]
    assert all(isinstance(admission, Skip) for admission in admissions[:50])
    assert not any(request.built for request in again[:50])
    assert admissions[50] is again[50]  # the new line is sent
    changed = [builder("T").from_text(f"prompt {i}", i + 1) for i in range(50)]
    assert all(Ledger(output).admit(request) is request for request in changed)

"""Token estimates before sending: cost arithmetic, vocabularies, and the lazy counter."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import toktok

from surge._limits.tokens import (
    TokenCounter,
    encoding_for_model,
    estimate_cost,
    expected_output_tokens,
    iter_texts,
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, 100 + 256),
        ({"max_tokens": 50}, 150),
        ({"max_completion_tokens": 70}, 170),
        ({"max_output_tokens": 30}, 130),
        ({"max_tokens": 0}, 100),
        # The newer names win when several are present.
        ({"max_tokens": 50, "max_completion_tokens": 70}, 170),
        ({"max_tokens": 50, "max_output_tokens": 30}, 130),
        # n answers cost n times the output.
        ({"max_tokens": 50, "n": 3}, 100 + 150),
        ({"n": 2}, 100 + 512),
        ({"max_tokens": 50, "n": 0}, 150),  # nonsense n: one answer
        ({"max_tokens": 50, "n": True}, 150),
        ({"max_tokens": 50, "n": "2"}, 150),
        # Junk budgets are ignored, not trusted.
        ({"max_tokens": -5}, 356),
        ({"max_tokens": "50"}, 356),
        ({"max_tokens": 50.0}, 356),
        ({"max_tokens": True}, 356),
        ({"max_tokens": None, "max_output_tokens": 10}, 110),
    ],
)
def test_estimate_cost(body: dict[str, Any], expected: int) -> None:
    assert estimate_cost(body, prompt=100, expected_output=256) == expected


def test_estimate_cost_rounds_a_fractional_expectation_up() -> None:
    # The expected output is a running average; the estimate is whole tokens, never low.
    assert estimate_cost({}, prompt=10, expected_output=12.2) == 23
    assert estimate_cost({"n": 2}, prompt=10, expected_output=12.2) == 36


@pytest.mark.parametrize(
    ("body", "declared"),
    [
        ({}, None),
        ({"max_tokens": 9}, 9),
        ({"max_completion_tokens": 8, "max_output_tokens": 7, "max_tokens": 6}, 8),
        ({"max_output_tokens": 7, "max_tokens": 6}, 7),
        ({"max_tokens": False}, None),
    ],
)
def test_expected_output_tokens(body: dict[str, Any], declared: int | None) -> None:
    assert expected_output_tokens(body) == declared


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        (None, "o200k_base"),
        ("", "o200k_base"),
        ("gpt-4.1-mini", "o200k_base"),
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("GPT-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-instruct", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("ft:gpt-3.5-turbo-0125:acme::abc123", "cl100k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
        ("llama-3.1-8b-instruct", "o200k_base"),  # unknown: the modern default
    ],
)
def test_encoding_for_model(model: str | None, encoding: str) -> None:
    assert encoding_for_model(model) == encoding


@pytest.mark.parametrize(
    ("body", "texts"),
    [
        ({"model": "m"}, []),
        ({"messages": [{"role": "user", "content": "hi"}]}, ["hi"]),
        (
            {
                "messages": [
                    {"role": "system", "content": "sys"},
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "a"}, {"type": "image_url"}],
                    },
                    {"role": "assistant", "content": None},
                ]
            },
            ["sys", "a"],
        ),
        ({"input": "x", "instructions": "be brief"}, ["be brief", "x"]),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": "q"}]}]},
            ["q"],
        ),
        ({"input": ["a", "b"]}, ["a", "b"]),  # embeddings batch
        ({"prompt": "legacy"}, ["legacy"]),
        ({"tools": [{"type": "function"}]}, ["[{'type': 'function'}]"]),
    ],
)
def test_iter_texts(body: dict[str, Any], texts: list[str]) -> None:
    assert list(iter_texts(body)) == texts


# -- the counter -------------------------------------------------------------------------------

TEXTS = ["Hello, world!", "The quick brown fox jumps over the lazy dog. " * 5, "Größe 日本語 🎉"]


def wait_ready(counter: TokenCounter, encoding: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    counter.warm(encoding)
    while encoding not in counter._ready:
        assert time.monotonic() < deadline, f"{encoding} did not load within {timeout}s"
        counter.warm(encoding)  # in case another encoding was loading when we asked
        time.sleep(0.01)


def test_counter_estimates_chars_over_four_before_the_vocabulary_loads() -> None:
    counter = TokenCounter()
    counter.warm = lambda encoding="o200k_base": None  # type: ignore[method-assign]
    expected = sum(math.ceil(len(t) / 4) for t in TEXTS)
    assert counter.count(TEXTS, "o200k_base") == expected
    assert counter.count([""], "o200k_base") == 0


def test_counter_starts_loading_on_first_use() -> None:
    counter = TokenCounter()
    counter.count(["hi"], "o200k_base")  # estimate now, vocabulary in the background
    wait_ready(counter, "o200k_base")


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_counter_is_exact_once_warm(encoding: str) -> None:
    counter = TokenCounter()
    wait_ready(counter, encoding)
    assert counter.count(TEXTS, encoding) == sum(toktok.batch_count(TEXTS, encoding, threads=1))


def test_unknown_encoding_keeps_estimating() -> None:
    counter = TokenCounter()
    counter.warm("no_such_encoding")
    deadline = time.monotonic() + 10
    while counter._loading:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert counter.count(["abcdefgh"], "no_such_encoding") == 2


def test_prompt_tokens_adds_message_framing() -> None:
    counter = TokenCounter()
    wait_ready(counter, "o200k_base")
    body = {
        "model": "gpt-4.1-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    }
    exact = sum(toktok.batch_count(["Be brief.", "Hi"], "o200k_base", threads=1))
    assert counter.prompt_tokens(body) == exact + 3 + 3 * 2
    # Without a messages list, one message's framing is assumed.
    responses = {"model": "gpt-4.1-mini", "input": "Hi"}
    hi = toktok.batch_count(["Hi"], "o200k_base", threads=1)[0]
    assert counter.prompt_tokens(responses) == hi + 3 + 3

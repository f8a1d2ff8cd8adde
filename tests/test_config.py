"""Config objects: validation, URL joining, secrets kept out of reprs, shortcuts."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from surge import _constants as C
from surge.config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from surge.errors import ConfigError


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"concurrency": 0}, "concurrency must be >= 1, got 0"),
        ({"concurrency": -3}, "concurrency must be >= 1, got -3"),
        ({"rpm": 0}, "rpm must be > 0, got 0"),
        ({"rpm": -1}, "rpm must be > 0, got -1"),
        ({"tpm": -0.5}, "tpm must be > 0, got -0.5"),
    ],
)
def test_limits_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Limits(**kwargs)
    assert str(info.value) == message


def test_limits_defaults_and_valid_values() -> None:
    assert Limits() == Limits(concurrency=C.DEFAULT_CONCURRENCY, rpm=None, tpm=None)
    assert Limits(concurrency=1, rpm=0.5, tpm=1).rpm == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "max_retries must be >= 0, got -1"),
        ({"initial_delay": -0.1}, "retry delays must be >= 0"),
        ({"max_delay": -1}, "retry delays must be >= 0"),
    ],
)
def test_retry_policy_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api": "images"}, "api must be one of chat, responses, embeddings, got 'images'"),
        ({"reorder_buffer": 0}, "reorder_buffer must be >= 1"),
    ],
)
def test_run_options_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunOptions(**kwargs)


@pytest.mark.parametrize(
    ("api", "path"),
    [
        ("chat", "/v1/chat/completions"),
        ("responses", "/v1/responses"),
        ("embeddings", "/v1/embeddings"),
    ],
)
def test_run_options_path(api: Any, path: str) -> None:
    assert RunOptions(api=api).path == path


@pytest.mark.parametrize(
    "make",
    [lambda: Limits(), lambda: RetryPolicy(), lambda: Timeout(), lambda: Endpoint(), RunOptions],
)
def test_config_objects_are_frozen(make: Any) -> None:
    obj = make()
    field = dataclasses.fields(obj)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, field, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (30, Timeout(total=30.0, connect=C.DEFAULT_CONNECT_TIMEOUT)),
        (5, Timeout(total=5.0, connect=5.0)),  # connect never longer than the whole attempt
        (0.5, Timeout(total=0.5, connect=0.5)),
        (None, Timeout(total=None, connect=C.DEFAULT_CONNECT_TIMEOUT)),
        (Timeout(total=7, connect=2), Timeout(total=7, connect=2)),
    ],
)
def test_timeout_coerce(value: Any, expected: Timeout) -> None:
    assert Timeout.coerce(value) == expected


@pytest.mark.parametrize("value", [0, -1, -0.01])
def test_timeout_coerce_rejects_non_positive(value: float) -> None:
    with pytest.raises(ConfigError, match="timeout must be > 0 seconds"):
        Timeout.coerce(value)


@pytest.mark.parametrize(
    ("base_url", "path", "url"),
    [
        ("http://x/v1", "/v1/chat/completions", "http://x/v1/chat/completions"),
        ("http://x/v1/", "/v1/chat/completions", "http://x/v1/chat/completions"),
        ("http://x", "/v1/chat/completions", "http://x/v1/chat/completions"),
        ("http://x/", "/v1/responses", "http://x/v1/responses"),
        ("https://h:8443/openai/v1", "/v1/embeddings", "https://h:8443/openai/v1/embeddings"),
        ("http://x/v1", "/chat/completions", "http://x/v1/chat/completions"),
        ("http://x/v1", "chat/completions", "http://x/v1/chat/completions"),
        ("http://127.0.0.1:8000/v1", "/v1", "http://127.0.0.1:8000/v1/v1"),  # not a request path
        ("http://x/api/v10", "/v1/models", "http://x/api/v10/v1/models"),
    ],
)
def test_url_for(base_url: str, path: str, url: str) -> None:
    assert Endpoint(base_url=base_url).url_for(path) == url


def test_base_url_and_key_fall_back_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env-host/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert Endpoint().resolved_base_url() == "http://env-host/v1"
    assert Endpoint().resolved_api_key() == "sk-env"
    assert Endpoint(base_url="http://mine", api_key="sk-mine").resolved_base_url() == "http://mine"
    assert Endpoint(api_key="").resolved_api_key() == ""  # explicit empty key: no fallback


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert Endpoint().resolved_base_url() == C.DEFAULT_BASE_URL


@pytest.mark.parametrize("base_url", ["localhost:8000/v1", "ftp://x", "/v1"])
def test_base_url_needs_a_scheme(base_url: str) -> None:
    with pytest.raises(ConfigError, match="must start with http:// or https://"):
        Endpoint(base_url=base_url).url_for("/v1/chat/completions")


def test_repr_hides_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    secret = "sk-very-secret-123"
    endpoint = Endpoint(
        base_url="http://x/v1", api_key=secret, headers=(("Authorization", f"Bearer {secret}"),)
    )
    for text in (repr(endpoint), str(endpoint), f"{endpoint!r}", repr([endpoint])):
        assert secret not in text
    assert repr(endpoint) == "Endpoint(base_url='http://x/v1', api_key=<set>)"
    assert repr(Endpoint()) == "Endpoint(base_url=None, api_key=<unset>)"


def test_repr_of_other_config_objects_is_readable() -> None:
    assert repr(Limits(concurrency=5, rpm=60)) == "Limits(concurrency=5, rpm=60, tpm=None)"
    assert "max_retries=6" in repr(RetryPolicy())

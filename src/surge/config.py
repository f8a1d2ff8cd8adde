"""Typed, frozen configuration objects.

    endpoint = surge.Endpoint(base_url="http://127.0.0.1:8000/v1", api_key="sk-...")
    limits = surge.Limits(concurrency=200, rpm=1200, tpm=400_000)
    retry = surge.RetryPolicy(max_retries=4)
    results = await surge.amap(prompts, endpoint=endpoint, limits=limits, retry=retry)

Shortcuts are accepted at the edges: ``timeout=30`` is ``Timeout(total=30)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _constants as C
from .errors import ConfigError

__all__ = ["Endpoint", "FlexFallback", "Limits", "RetryPolicy", "RunOptions", "Timeout"]

Api = Literal["chat", "responses", "embeddings"]

API_PATHS: dict[str, str] = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "embeddings": "/v1/embeddings",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """How hard surge may push: requests in flight, requests/min, tokens/min.

    ``rpm``/``tpm`` of ``None`` mean "no client-side limit", but the server's
    ``x-ratelimit-*`` headers are still obeyed when it sends them.
    """

    concurrency: int = C.DEFAULT_CONCURRENCY
    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Which failures to retry and how long to wait between attempts.

    Only transient failures are retried: ``retry_statuses``, every 5xx but 501 unless
    ``retry_server_errors=False``, connection errors and timeouts. The delay doubles from ``initial_delay`` up to ``max_delay`` with
    jitter, unless the server says how long to wait (``retry-after-ms``/``retry-after``).
    """

    max_retries: int = C.DEFAULT_MAX_RETRIES
    initial_delay: float = C.INITIAL_RETRY_DELAY
    max_delay: float = C.MAX_RETRY_DELAY
    retry_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({408, 409, 429, 500, 502, 503, 504})
    )
    retry_server_errors: bool = True  # also every other 5xx but 501

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ConfigError("retry delays must be >= 0")


@dataclass(frozen=True, slots=True)
class Timeout:
    """``total`` bounds one whole attempt (connect, send, wait, read)."""

    total: float | None = C.DEFAULT_TIMEOUT
    connect: float | None = C.DEFAULT_CONNECT_TIMEOUT

    @classmethod
    def coerce(cls, value: Timeout | float | int | None) -> Timeout:
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None)
        if value <= 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {value}")
        return cls(total=float(value), connect=min(float(value), C.DEFAULT_CONNECT_TIMEOUT))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where requests go. Any OpenAI-compatible server.

    ``base_url`` may end in ``/v1`` or not; request URLs such as
    ``/v1/chat/completions`` are joined to it without doubling ``/v1``.
    Falls back to ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
    """

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def resolved_base_url(self) -> str:
        url = self.base_url or os.environ.get("OPENAI_BASE_URL") or C.DEFAULT_BASE_URL
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"base URL must start with http:// or https://, got {url!r}")
        return url

    def resolved_api_key(self) -> str | None:
        return self.api_key if self.api_key is not None else os.environ.get("OPENAI_API_KEY")

    def url_for(self, path: str) -> str:
        """Join a request path (``/v1/chat/completions``) to the base URL."""
        base = self.resolved_base_url()
        if not path.startswith("/"):
            path = "/" + path
        if base.endswith("/v1") and path.startswith("/v1/"):
            path = path[3:]
        return base + path

    def __repr__(self) -> str:
        key = "set" if self.resolved_api_key() else "unset"
        return f"Endpoint(base_url={self.base_url!r}, api_key=<{key}>)"


@dataclass(frozen=True, slots=True)
class FlexFallback:
    """When a flex-tier request gives up on flex and is sent at the default tier.

        FlexFallback(after=3)             # after 3 answers "429 resource_unavailable"
        FlexFallback(deadline=600)        # or 10 minutes after its first flex attempt
        FlexFallback.parse("3,10m")       # either, whichever comes first

    Flex is half price but may answer 429 ``resource_unavailable`` when capacity is
    short; those are retried with backoff (they are no rate limit). A fallback trades the
    discount for an answer.
    """

    after: int | None = None
    deadline: float | None = None  # seconds since the request's first flex attempt

    def __post_init__(self) -> None:
        if self.after is None and self.deadline is None:
            raise ConfigError("flex fallback needs a number of answers, a deadline, or both")
        if self.after is not None and self.after < 1:
            raise ConfigError(f"flex fallback after must be >= 1, got {self.after}")
        if self.deadline is not None and self.deadline <= 0:
            raise ConfigError(f"flex fallback deadline must be > 0 s, got {self.deadline}")

    @classmethod
    def parse(cls, text: str) -> FlexFallback:
        """``"3"`` (answers), ``"90s"``/``"10m"`` (deadline), or both: ``"3,10m"``."""
        after: int | None = None
        deadline: float | None = None
        for part in (p.strip().lower() for p in text.split(",") if p.strip()):
            try:
                if part[-1] in "sm" and part[:-1]:
                    deadline = float(part[:-1]) * (60.0 if part[-1] == "m" else 1.0)
                else:
                    after = int(part)
            except ValueError:
                raise ConfigError(
                    f"--flex-fallback {text!r}: expected N (answers), a duration like 90s or "
                    "10m, or both (3,10m)"
                ) from None
        return cls(after=after, deadline=deadline)


SERVICE_TIERS = ("auto", "default", "flex", "priority")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How prompt-style requests become bodies, and how results come back.

    ``model``/``system``/``params`` fill bodies built from plain prompts;
    ``api`` picks the endpoint for them. Batch-format lines carry their own.
    ``retry_failed`` re-sends requests an output records as failed; ``keep_stale`` keeps
    an output's answers to requests that changed (or left the input) instead of
    sending them again (or dropping them).
    """

    api: Api = "chat"
    model: str | None = None
    system: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    ordered: bool = False
    reorder_buffer: int = C.DEFAULT_REORDER_BUFFER
    retry_failed: bool = False
    keep_stale: bool = False
    service_tier: str | None = None  # set on every body that names none ("flex")
    flex_fallback: FlexFallback | None = None

    def __post_init__(self) -> None:
        if self.service_tier is not None and self.service_tier not in SERVICE_TIERS:
            raise ConfigError(
                f"service_tier must be one of {', '.join(SERVICE_TIERS)}, got {self.service_tier!r}"
            )
        if self.api not in API_PATHS:
            raise ConfigError(f"api must be one of {', '.join(API_PATHS)}, got {self.api!r}")
        if self.reorder_buffer < 1:
            raise ConfigError("reorder_buffer must be >= 1")

    @property
    def path(self) -> str:
        return API_PATHS[self.api]

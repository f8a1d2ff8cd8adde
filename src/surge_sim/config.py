"""The simulator's knobs, in one frozen, keyword-only object.

Example::

    from surge_sim import SimConfig

    cfg = SimConfig(latency=0.3, latency_jitter=0.1, rpm=1200, seed=1, error_503=0.05)
    faster = cfg.replace(latency=0.0)

Every default lives here. Fault rates are probabilities in ``[0, 1]`` drawn from one
uniform number per admitted attempt, so they are mutually exclusive and must add up to
at most 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Literal

LimitMode = Literal["rolling", "window"]
TokenCounting = Literal["usage", "estimate"]
#: Per-model limits: (model, rpm, tpm); ``None`` leaves that limit off for the model.
ModelLimits = tuple[tuple[str, int | None, int | None], ...]

#: Fault kinds, in the order their probability ranges are laid out on ``[0, 1)``.
FAULT_KINDS: tuple[str, ...] = (
    "error_500",
    "error_502",
    "error_503",
    "reset",
    "hang",
    "slow_start",
)

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o4-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
)


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """How the simulated provider behaves.

    Example::

        SimConfig(rpm=600, tpm=100_000, limit_mode="window", window_seconds=10)

    Attributes:
        latency: fixed seconds before each answer.
        latency_jitter: the fixed part varies uniformly by +/- this many seconds.
        per_token_latency: extra seconds per output token.
        rpm, tpm: requests / tokens per minute; ``None`` means unlimited.
        limit_mode: ``"rolling"`` (token bucket refilled continuously, as providers do)
            or ``"window"`` (sliding log over ``window_seconds``).
        window_seconds: length of the sliding window in ``"window"`` mode.
        limit_quantum: when > 0, each per-minute limit is enforced per fixed window of this
            many seconds (``limit * quantum / 60`` each), as OpenAI documents ("60,000
            requests/minute may be enforced as 1,000 requests/second"); the headers keep
            reporting the per-minute view, so they promise room the window may not have.
        token_counting: what a request costs the tokens limit. ``"estimate"`` (the
            default) is what OpenAI documents: ``characters / 4`` of the prompt plus
            ``max_tokens`` (times ``n``), while ``usage`` reports the real tokenizer count;
            ``"usage"`` charges the real prompt count plus ``max_tokens`` (a server that
            counts real tokens, as some self-hosted ones do). Without ``max_tokens``, both
            charge the real completion.
        limit_headers: send ``x-ratelimit-*`` headers (off: like vLLM and many proxies).
        retry_after: send ``retry-after``/``retry-after-ms`` with a 429.
        per_model: every model gets its own limits (``rpm``/``tpm`` each), as providers do.
        model_limits: ``(model, rpm, tpm)`` overrides; implies ``per_model``.
        flex_unavailable: rate of ``service_tier: "flex"`` requests answered 429
            ``resource_unavailable`` (not billed, not counted against the limits).
        error_500, error_502, error_503: rates of server errors with OpenAI-style bodies.
        reset: rate of connections closed with no answer at all.
        hang: rate of requests never answered (until the client leaves or the server stops).
        slow_start: rate of requests that wait ``slow_start_seconds`` before answering.
        fail_first: the first N admitted attempts of every distinct request body get a 503.
        invalid_json_first: the first N answered attempts of every structured-output
            conversation (same model and first user message, so a re-ask that appends turns
            counts as the same conversation) reply with output that does not match the
            schema: alternately cut-off JSON and JSON of the wrong shape, as models that
            ignore or half-follow a schema do. A large N never validates.
        schema_refusal_marker: structured-output requests whose first user message contains
            this text are refused (``message.refusal``; Responses ``refusal`` content), as
            models decline requests they judge unsafe (unlike ``refuse_marker``: a 429).
        seed: changes replies' filler, latency draws and fault draws (not the digest tag).
        api_key: when set, requests need ``Authorization: Bearer <api_key>``.
        log_requests: keep a per-request log in ``/stats`` (turn off for huge benchmarks).
        embedding_dimensions: default length of embedding vectors (64 keeps bodies small;
            requests may ask for others with ``dimensions``).
        models: ids listed by ``GET /v1/models`` (any model id is accepted in requests,
            unless ``strict_models``).
        strict_models: a request naming a model not in ``models`` gets OpenAI's 404
            ``model_not_found``.
        refuse_marker: requests whose body contains this text always get a 429 with no
            ``retry-after`` and no rate-limit headers (one request a provider keeps
            refusing, while the others go through).
        batch_time_scale: real seconds per provider second for batches (0.001 turns the
            24 h completion window into 86 s and every phase below 1000 times shorter).
        batch_validate_seconds, batch_finalize_seconds: provider seconds spent in the
            ``validating`` and ``finalizing`` states.
        batch_requests_per_second: how fast a batch answers its requests (provider time).
        batch_expire_after: force expiry: each batch's window closes after this many of
            its requests were answered (the rest end as ``batch_expired``).
        batch_fail: force failure: every batch fails validation.
    """

    latency: float = 0.0
    latency_jitter: float = 0.0
    per_token_latency: float = 0.0
    rpm: int | None = None
    tpm: int | None = None
    limit_mode: LimitMode = "rolling"
    window_seconds: float = 60.0
    limit_quantum: float = 0.0
    token_counting: TokenCounting = "estimate"
    limit_headers: bool = True
    retry_after: bool = True
    per_model: bool = False
    model_limits: ModelLimits = ()
    flex_unavailable: float = 0.0
    error_500: float = 0.0
    error_502: float = 0.0
    error_503: float = 0.0
    reset: float = 0.0
    hang: float = 0.0
    slow_start: float = 0.0
    slow_start_seconds: float = 5.0
    fail_first: int = 0
    invalid_json_first: int = 0
    schema_refusal_marker: str | None = None
    seed: int = 0
    api_key: str | None = field(default=None, repr=False)
    log_requests: bool = True
    embedding_dimensions: int = 64
    models: tuple[str, ...] = DEFAULT_MODELS
    strict_models: bool = False
    refuse_marker: str | None = None
    batch_time_scale: float = 1.0
    batch_validate_seconds: float = 5.0
    batch_finalize_seconds: float = 5.0
    batch_requests_per_second: float = 200.0
    batch_expire_after: int | None = None
    batch_fail: bool = False

    def __post_init__(self) -> None:
        for name in ("latency", "latency_jitter", "per_token_latency", "slow_start_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"SimConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"SimConfig.{name} must be a positive integer or None")
        if self.limit_mode not in ("rolling", "window"):
            raise ValueError(
                f"SimConfig.limit_mode must be 'rolling' or 'window', not {self.limit_mode!r}"
            )
        if self.window_seconds <= 0:
            raise ValueError("SimConfig.window_seconds must be > 0")
        if self.limit_quantum < 0:
            raise ValueError("SimConfig.limit_quantum must be >= 0 (0: no quantization)")
        if self.token_counting not in ("usage", "estimate"):
            raise ValueError(
                "SimConfig.token_counting must be 'usage' or 'estimate', "
                f"not {self.token_counting!r}"
            )
        if not 0.0 <= self.flex_unavailable <= 1.0:
            raise ValueError("SimConfig.flex_unavailable is a rate and must be in [0, 1]")
        for entry in self.model_limits:
            if len(entry) != 3 or not isinstance(entry[0], str):
                raise ValueError(f"SimConfig.model_limits entries are (model, rpm, tpm): {entry!r}")
            for value in entry[1:]:
                if value is not None and (not isinstance(value, int) or value <= 0):
                    raise ValueError(f"SimConfig.model_limits: {entry!r} needs positive limits")
        for name in FAULT_KINDS:
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"SimConfig.{name} is a rate and must be in [0, 1], got {rate!r}")
        if self.fault_total > 1.0 + 1e-9:
            raise ValueError(
                f"fault rates add up to {self.fault_total:.3f}; they must add up to <= 1"
            )
        if self.fail_first < 0:
            raise ValueError("SimConfig.fail_first must be >= 0")
        if self.invalid_json_first < 0:
            raise ValueError("SimConfig.invalid_json_first must be >= 0")
        for name in ("batch_time_scale", "batch_validate_seconds", "batch_finalize_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"SimConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.batch_requests_per_second <= 0:
            raise ValueError("SimConfig.batch_requests_per_second must be > 0")
        if self.batch_expire_after is not None and self.batch_expire_after < 0:
            raise ValueError("SimConfig.batch_expire_after must be >= 0 or None")
        if self.embedding_dimensions < 1:
            raise ValueError("SimConfig.embedding_dimensions must be >= 1")

    # Read on every request: computed once (the instance is frozen, so they cannot go stale).
    @cached_property
    def fault_total(self) -> float:
        """Sum of all fault rates (the chance that an admitted attempt meets some fault)."""
        return float(sum(getattr(self, name) for name in FAULT_KINDS))

    @cached_property
    def draws_per_attempt(self) -> bool:
        """Whether answers depend on the attempt number (faults or jitter are on)."""
        return self.fault_total > 0 or self.fail_first > 0 or self.latency_jitter > 0

    @cached_property
    def has_latency(self) -> bool:
        """Whether any answer waits (zero latency is a fast path with no sleep at all)."""
        return bool(self.latency or self.latency_jitter or self.per_token_latency)

    def public_dict(self) -> dict[str, Any]:
        """The fields as plain data, without the API key (for ``POST /admin/config``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}

    def replace(self, **changes: Any) -> SimConfig:
        """A copy with some fields changed (validated again); unknown names raise TypeError."""
        if "models" in changes and isinstance(changes["models"], list):
            changes["models"] = tuple(changes["models"])
        if "model_limits" in changes and isinstance(changes["model_limits"], list | dict):
            changes["model_limits"] = parse_model_limits(changes["model_limits"])
        return dataclasses.replace(self, **changes)


def parse_model_limits(value: Any) -> ModelLimits:
    """``(model, rpm, tpm)`` triples from JSON: a list of triples or ``{model: [rpm, tpm]}``.

    Example::

        parse_model_limits({"gpt-4o": [600, None]})   # (("gpt-4o", 600, None),)
    """
    items = value.items() if isinstance(value, dict) else ((v[0], v[1:]) for v in value)
    out = []
    for model, pair in items:
        rpm, tpm = [*list(pair), None, None][:2]
        out.append((str(model), rpm, tpm))
    return tuple(out)

"""Which limits a request meets, and what it costs them: the provider's bookkeeping.

Example::

    quotas = Quotas(SimConfig(rpm=600, per_model=True), now=0.0)
    quotas.for_model("gpt-4o").admit(tokens=0, now=0.1)     # each model has its own limits
    rate_limit_cost(req, completion=12, counting="estimate")  # ceil(chars / 4) + max_tokens

OpenAI documents that the tokens limit is charged *before* the model runs, from an
estimate: roughly ``characters / 4`` of the prompt plus ``max_tokens`` (times ``n``); the
bill (``usage``) is the real tokenizer count. Both ways are here (``token_counting``).
"""

from __future__ import annotations

import math

from .config import SimConfig
from .limiter import Limiter, RateLimits
from .validation import ParsedRequest


def rate_limit_cost(req: ParsedRequest, *, completion: int, counting: str) -> int:
    """Tokens a request costs the tokens-per-minute limit."""
    # No declared budget: the real answer (the simulator knows it in advance).
    output = req.max_tokens * req.n if req.max_tokens is not None else completion
    if counting == "estimate":
        return math.ceil(req.prompt_chars / 4) + output
    return req.prompt_tokens + output


class Quotas:
    """The limits of one simulated organisation: one set, or one set per model."""

    def __init__(self, cfg: SimConfig, *, now: float) -> None:
        self._cfg = cfg
        self._now = now
        self._overrides = {m: (rpm, tpm) for m, rpm, tpm in cfg.model_limits}
        self._per_model = cfg.per_model or bool(cfg.model_limits)
        self._shared = self._build(cfg.rpm, cfg.tpm)
        self._models: dict[str, RateLimits] = {}

    def __repr__(self) -> str:
        scope = "per model" if self._per_model else "shared"
        return f"Quotas({scope}, rpm={self._cfg.rpm}, tpm={self._cfg.tpm})"

    def _build(self, rpm: int | None, tpm: int | None) -> RateLimits:
        cfg = self._cfg
        return RateLimits.build(
            rpm=rpm,
            tpm=tpm,
            mode=cfg.limit_mode,
            window_seconds=cfg.window_seconds,
            now=self._now,
            quantum=cfg.limit_quantum,
        )

    @property
    def requests(self) -> Limiter | None:
        """The shared requests limit (per-model limits: see :meth:`for_model`)."""
        return self._shared.requests

    @property
    def tokens(self) -> Limiter | None:
        return self._shared.tokens

    @property
    def active(self) -> bool:
        return self._shared.active or any(r or t for r, t in self._overrides.values())

    def for_model(self, model: str) -> RateLimits:
        if not self._per_model:
            return self._shared
        limits = self._models.get(model)
        if limits is None:
            rpm, tpm = self._overrides.get(model, (self._cfg.rpm, self._cfg.tpm))
            limits = self._models[model] = self._build(rpm, tpm)
        return limits

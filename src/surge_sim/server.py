"""The aiohttp application: routes, the request pipeline, admin endpoints.

Example::

    server = SimServer(SimConfig(rpm=600))
    runner = web.AppRunner(server.app(), handler_cancellation=True)

One API request goes: auth (401) -> JSON + validation (400) -> deterministic answer ->
flex capacity (429 ``resource_unavailable`` for ``service_tier: "flex"``, consumes nothing)
-> rate limit (429, consumes nothing) -> fault draw -> latency -> 200. Every API answer
carries ``x-request-id`` and, unless ``limit_headers`` is off, the ``x-ratelimit-*``
headers of the limits the request's model meets.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import os
import random
import time
from typing import Any

import orjson
from aiohttp import web

from .batch_routes import BatchRoutes
from .bodies import (
    chat_body,
    conversation_key,
    embeddings_body,
    first_user_turn,
    flex_unavailable_body,
    invalid_answer,
    make_answer,
    models_body,
    rate_limit_body,
    rate_limit_headers,
    refusal_answer,
    responses_body,
    server_error_body,
)
from .config import SimConfig
from .errors import ApiError
from .faults import AttemptCounter, answer_delay, body_key, choose_fault
from .quota import Quotas, rate_limit_cost
from .stats import SimStats
from .validation import PARSERS

log = logging.getLogger(__name__)

_JSON = "application/json"
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)
_REFUSED = {
    "error": {
        "message": "Rate limit reached. Please try again later.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
_LIMIT_FIELDS = frozenset(
    {"rpm", "tpm", "limit_mode", "window_seconds", "limit_quantum", "per_model", "model_limits"}
)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type=_JSON, headers=headers
    )


class SimServer:
    """State of one simulated provider: config, limits, counters, and the request handlers.

    Example::

        server = SimServer(SimConfig())
        app = server.app()
        server.update({"error_503": 0.5})   # what POST /admin/config does
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.stats = SimStats(log_requests=config.log_requests)
        self.attempts = AttemptCounter()
        self.conversations = AttemptCounter()  # answered structured-output attempts
        self.limits = self._build_limits(config)
        self._flex_rng = random.Random(config.seed)
        self.stopping = asyncio.Event()
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()
        self.batch = BatchRoutes(self)  # /v1/files and /v1/batches

    def __repr__(self) -> str:
        return f"SimServer({self.config!r}, {self.stats!r})"

    @staticmethod
    def _build_limits(cfg: SimConfig) -> Quotas:
        return Quotas(cfg, now=time.monotonic())

    def update(self, patch: dict[str, Any]) -> SimConfig:
        """Apply a config patch at run time; changing a limit starts it afresh (full)."""
        new = self.config.replace(**patch)
        if any(getattr(new, f) != getattr(self.config, f) for f in _LIMIT_FIELDS):
            self.limits = self._build_limits(new)
        self.stats.log_requests = new.log_requests
        self.config = new
        return new

    def reset_stats(self) -> None:
        self.stats.reset()
        self.attempts.clear()
        self.conversations.clear()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        routes = [
            web.post("/v1/chat/completions", self.chat),
            web.post("/v1/responses", self.responses),
            web.post("/v1/embeddings", self.embeddings),
            web.get("/v1/models", self.models),
            web.post("/chat/completions", self.chat),
            web.post("/responses", self.responses),
            web.post("/embeddings", self.embeddings),
            web.get("/models", self.models),
            *self.batch.routes("/v1"),
            *self.batch.routes(""),
            web.get("/stats", self.get_stats),
            web.post("/stats/reset", self.post_stats_reset),
            web.post("/admin/config", self.post_admin_config),
            web.get("/health", self.health),
            web.route("*", "/{tail:.*}", self.not_found),
        ]
        app.add_routes(routes)
        return app

    # -- API endpoints ---------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, "chat")

    async def responses(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, "responses")

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, "embeddings")

    async def models(self, request: web.Request) -> web.StreamResponse:
        headers = {"x-request-id": self._next_id("req_")}
        try:
            self._check_auth(request)
        except ApiError as err:
            return _json(err.status, err.body(), headers)
        return _json(200, models_body(self.config.models), headers)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{self._id_prefix}{next(self._ids):010x}"

    def check_auth(self, request: web.Request) -> None:
        """Raise a 401 ApiError unless the request carries the configured key (if any)."""
        self._check_auth(request)

    def _check_auth(self, request: web.Request) -> None:
        key = self.config.api_key
        if key is None:
            return
        given = request.headers.get("Authorization", "")
        if not given:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )
        # Never echo what was sent: a wrong key may still be someone's real secret.
        if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            raise ApiError(
                401,
                "Incorrect API key provided. Check the key the simulator was started with.",
                code="invalid_api_key",
            )

    async def _api(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        stats = self.stats
        arrival = stats.now()
        stats.enter()
        cfg = self.config
        status: int | str = 500
        digest = model = None
        attempt: int | None = None
        headers = {"x-request-id": self._next_id("req_")}
        try:
            try:
                self._check_auth(request)
                raw = await request.read()
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError as err:
                    raise ApiError(400, _BAD_JSON) from err
                req = PARSERS[endpoint](body)  # type: ignore[index]
                digest, model = req.digest, req.model
                if cfg.strict_models and req.model not in cfg.models:
                    raise ApiError(
                        404,
                        f"The model `{req.model}` does not exist or you do not have access to it.",
                        code="model_not_found",
                    )
                if cfg.refuse_marker and cfg.refuse_marker.encode() in raw:
                    status = 429
                    return _json(429, _REFUSED, {"x-request-id": headers["x-request-id"]})
                answer = make_answer(req, cfg.seed)
            except ApiError as err:
                if self.limits.active and cfg.limit_headers:
                    headers.update(self.limits.for_model(model or "").headers(time.monotonic()))
                status = err.status
                return _json(err.status, err.body(), headers)

            completion = answer.completion_tokens
            flex = req.service_tier == "flex" and cfg.flex_unavailable > 0
            if flex and self._flex_rng.random() < cfg.flex_unavailable:
                stats.flex_unavailable += 1
                status = 429
                return _json(429, flex_unavailable_body(), headers)
            limits = self.limits.for_model(req.model)
            if limits.active:
                cost = rate_limit_cost(req, completion=completion, counting=cfg.token_counting)
                now = time.monotonic()
                rejection = limits.admit(cost, now)
                if cfg.limit_headers:
                    headers.update(limits.headers(now))
                if rejection is not None:
                    if cfg.retry_after:
                        headers.update(rate_limit_headers(rejection))
                    status = 429
                    return _json(429, rate_limit_body(rejection, req.model), headers)
                stats.charged_tokens += cost

            key = ""
            attempt = 0
            if cfg.draws_per_attempt:
                key = body_key(raw)
                attempt = self.attempts.next(key)
            fault = choose_fault(cfg, key, attempt)
            delay = 0.0
            if fault is not None:
                stats.fault(fault)
                if fault in ("error_500", "error_502", "error_503", "fail_first"):
                    status = 503 if fault == "fail_first" else int(fault[-3:])
                    return _json(status, server_error_body(status), headers)
                if fault == "reset":
                    status = "reset"
                    return self._reset(request)
                if fault == "hang":
                    status = "hang"
                    await self.stopping.wait()
                    return self._reset(request)
                delay = cfg.slow_start_seconds  # slow_start
            if cfg.has_latency:
                delay += answer_delay(cfg, key, attempt, completion)
            if delay > 0:
                await self._sleep(delay)

            if cfg.schema_refusal_marker and req.output_format == "json_schema":
                first = first_user_turn(body)
                if isinstance(first, str) and cfg.schema_refusal_marker in first:
                    stats.fault("refusal")
                    answer = refusal_answer(answer)
                    completion = answer.completion_tokens
            if cfg.invalid_json_first and req.output_format == "json_schema":
                n = self.conversations.next(conversation_key(body))
                if n < cfg.invalid_json_first:
                    stats.fault("invalid_json")
                    answer = invalid_answer(req, answer, n)
                    completion = answer.completion_tokens
            ident = self._next_id("")
            created = int(time.time())
            if endpoint == "chat":
                payload = chat_body(req, answer, ident=ident, created=created)
            elif endpoint == "responses":
                payload = responses_body(req, answer, ident=ident, created=created)
            else:
                payload = embeddings_body(req, cfg.embedding_dimensions)
            stats.usage(req.prompt_tokens, completion)
            status = 200
            return _json(200, payload, headers)
        except asyncio.CancelledError:
            if status not in ("hang", "reset"):
                status = 499  # the client went away (or the server is stopping)
            raise
        finally:
            stats.leave()
            stats.record(
                path=request.path,
                status=status,
                arrival=arrival,
                client_request_id=request.headers.get("x-client-request-id"),
                digest=digest,
                model=model,
                attempt=attempt,
            )

    async def _sleep(self, delay: float) -> None:
        """Sleep, but wake at once when the server stops, so shutdown never waits on us."""
        if self.stopping.is_set():
            return
        waiter = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait((waiter,), timeout=delay)
        finally:
            waiter.cancel()

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        """Drop the connection with no answer at all, as a crashed proxy does."""
        if request.transport is not None:
            request.transport.abort()
        # aiohttp sees the closed transport and writes nothing; this object is never sent.
        return web.Response(status=500)

    # -- admin -----------------------------------------------------------------------------

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        with_log = request.query.get("log", "1").lower() not in ("0", "false", "no")
        return _json(200, self.stats.snapshot(log=with_log))

    async def post_stats_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset_stats()
        return _json(200, {"ok": True})

    async def post_admin_config(self, request: web.Request) -> web.StreamResponse:
        try:
            patch = orjson.loads(await request.read())
            if not isinstance(patch, dict):
                raise TypeError("expected a JSON object of SimConfig fields")
            new = self.update(patch)
        except (orjson.JSONDecodeError, TypeError, ValueError) as err:
            body = ApiError(400, f"bad config patch: {err}").body()
            return _json(400, body)
        return _json(200, {"ok": True, "config": new.public_dict()})

    async def health(self, request: web.Request) -> web.StreamResponse:
        return _json(200, {"ok": True})

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        err = ApiError(404, f"Invalid URL ({request.method} {request.path})")
        return _json(404, err.body())

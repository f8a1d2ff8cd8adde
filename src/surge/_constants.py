"""Every tunable default of surge, in one place."""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4.1-mini"
DEFAULT_CONCURRENCY = 100
DEFAULT_MAX_RETRIES = 6
DEFAULT_TIMEOUT = 600.0  # seconds for one whole attempt (long generations are legitimate)
DEFAULT_CONNECT_TIMEOUT = 30.0

# Backoff: delay = min(MAX, INITIAL * 2**retry) * jitter(0.75..1.0)
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 60.0
# A Retry-After longer than this is not honoured literally (servers sometimes send hours).
MAX_RETRY_AFTER = 120.0

# Client-side limits run slightly under the configured/learned limit so that timer jitter
# never pushes a request over a server's window edge.
LIMIT_HEADROOM = 0.99
# Burst a limiter allows, in seconds of its rate. None: a smooth stream suits every
# server-side algorithm (token bucket, rolling window, per-second quantisation) and never
# bursts into a quota another client or an earlier run already spent.
LIMIT_BURST_SECONDS = 0.0

# A limiter's waiter woken up to this late keeps its scheduled slot (at most one spacing).
TIMER_SLACK = 0.005

# After a rate-limit 429 (see _limits/control.py): the pace drops to DECREASE of the rate
# the refusal came at, recovers (time constant RECOVERY_SECONDS) to PLATEAU of it, and
# probes above it after PROBE_DELAY s (doubling, up to MAX_PROBE_DELAY, each time the
# refusal comes at the same level, within SAME_LEVEL), growing as exp(PROBE_GAIN * t). A
# known limit (configured or announced) is probed again only after KNOWN_PROBE_DELAY s.
DECREASE = 0.8
RECOVERY_SECONDS = 0.5
PLATEAU = 0.98
PROBE_DELAY = 2.0
MAX_PROBE_DELAY = 60.0
PROBE_GAIN = 0.1
SAME_LEVEL = 0.05
KNOWN_PROBE_DELAY = 60.0
# What the server admitted over this many seconds is the rate to start from when it
# refuses with nothing else to go by (no headers): OpenAI quantizes limits per second.
MEASURE_WINDOW = 1.0
# Slow start (nothing known, no headers): the number in flight grows by this much per
# answer, i.e. by half per round trip, so the first overshoot is a third of what was sent.
SLOW_START_GROWTH = 0.5
# Nothing configured: this many requests per (endpoint, model) go before the server has
# said anything (its headers may name the limits); the crowd waits for the first answer.
# Covers small jobs (the demo's 5 and 3 requests) in one round trip; a big job's first
# wave is still a few requests, under one second's quota of any tier's limits.
FIRST_WAVE = 8
# With no pace at all (nothing known), a rate-limit 429 sets one from what the server
# admitted only if another request is refused within this many seconds: one refusal
# alone may be one request the server keeps refusing, not a refused rate.
CORROBORATE_SECONDS = 1.0
# The same request refused again, while the server admitted others and refused at most
# this share of them since its last refusal: that request is refused, not the rate.
REFUSED_REQUEST_SHARE = 0.05
# How many refused requests are remembered (per endpoint and model) to tell them apart.
REFUSED_REQUESTS_KEPT = 1024
# No pace ever falls below this many units per second (one request a minute).
MIN_RATE = 1.0 / 60.0

# Learning what the server charges per estimated token (see _limits/learning.py): samples
# are clamped to [RATIO_MIN, RATIO_MAX]; header spans shorter than RATIO_MIN_SPAN seconds
# of the limit's refill, or readings above RATIO_FULL_BUCKET of it, are skipped; later samples move the
# ratio by RATIO_SMOOTHING, and one request's usage counts RATIO_USAGE_WEIGHT of a span.
RATIO_MIN = 0.25
RATIO_MAX = 4.0
RATIO_MIN_SPAN = 0.5
RATIO_FULL_BUCKET = 0.98
RATIO_SMOOTHING = 0.2
RATIO_USAGE_WEIGHT = 0.25

# Token estimate for the answer when the request names no max_tokens and no usage was
# seen yet; replaced by the running average of real completion tokens.
DEFAULT_EXPECTED_OUTPUT_TOKENS = 256

# --ordered: results held back waiting for an earlier one, at most.
DEFAULT_REORDER_BUFFER = 10_000

# SIGINT/SIGTERM: how long in-flight requests may finish before they are cancelled.
SHUTDOWN_GRACE = 10.0

# Plain (non-TTY) progress line interval, seconds.
PLAIN_PROGRESS_INTERVAL = 5.0

OUTPUT_METADATA_KEY = "surge"

# Structured outputs: how many times a reply that does not match the schema is asked again.
DEFAULT_VALIDATION_RETRIES = 2

# Fan-out: the synthesis model's context, in tokens, that the answers must fit in (beyond
# it they are synthesized in groups first). Conservative for today's 128k-token models.
DEFAULT_CONTEXT_TOKENS = 100_000

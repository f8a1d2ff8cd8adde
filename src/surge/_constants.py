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

# Of the quota a server reports remaining, this fraction of its limit is left unspent when
# surge uses the rest at once (estimates and other clients make the figure approximate).
REMAINING_MARGIN = 0.05

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

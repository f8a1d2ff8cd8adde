"""Whether a failure could succeed if sent again: one rule, importable without the library
(the process that reads a big output back imports next to nothing, see
:mod:`surge.io.entry_scan`)."""

from __future__ import annotations

_TRANSIENT_STATUSES = frozenset({408, 409, 429})
_PERMANENT_CODES = frozenset({"invalid_input", "insufficient_quota", "billing_hard_limit_reached"})
_TRANSPORT_CODES = frozenset({"timeout", "connection_error", "invalid_response"})


def failure_kind(status_code: int | None, error_code: str | None) -> str:
    """Whether a failure could succeed if sent again (transient) or never (permanent).

        failure_kind(503, "http_503")                 # "transient"
        failure_kind(400, "invalid_parameter")        # "permanent"

    Transport failures, timeouts, 408/409/429 and 5xx (but 501) are transient; an invalid
    input line, any other 4xx (the request itself is wrong) and a used-up quota are not.
    """
    if error_code in _PERMANENT_CODES:
        return "permanent"
    if status_code is None or error_code in _TRANSPORT_CODES:
        return "transient"
    if status_code in _TRANSIENT_STATUSES or (500 <= status_code < 600 and status_code != 501):
        return "transient"
    return "permanent"

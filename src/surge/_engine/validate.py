"""Whether a request can be sent at all.

    problem = id_problem(request.custom_id)   # before the ledger: None, or what is wrong
    problem = request_problem(request)        # before sending it: the same, and the rest

Requests built from input lines are already valid; ones handed to the library as
:class:`~surge.Request` objects are not checked by anything else. A problem becomes that
request's error line (``invalid_input``); it never reaches the HTTP layer, where a
custom_id with a newline would break the ``X-Client-Request-Id`` header.

The engine checks the custom_id of every item (the ledger files results under it) and the
rest only of a request it is about to send: a resumed run skips most lines, and a line
it skips was sent before, so it was sendable then.
"""

from __future__ import annotations

import re

import orjson

from ..errors import InputError
from ..io.formats import SUPPORTED_URLS
from ..models import ErrorInfo, Request, Result

__all__ = ["id_problem", "refusal", "request_problem"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def id_problem(custom_id: object) -> str | None:
    """What makes ``custom_id`` unusable (not a string, empty, a control character)."""
    if not isinstance(custom_id, str) or not custom_id:
        return f"custom_id must be a non-empty string, got {custom_id!r}"
    # isprintable() is the quick answer for nearly every id; a few printable-looking
    # characters (U+2028...) are not "printable" but are no control characters either.
    if not custom_id.isprintable() and _CONTROL.search(custom_id):
        return f"custom_id {custom_id!r} contains a control character"
    return None


def request_problem(request: Request, *, check_body: bool = True) -> str | None:
    """What makes ``request`` unsendable, or ``None``. ``check_body``: also serialize it."""
    problem = id_problem(request.custom_id)
    if problem is not None:
        return problem
    url = request.url
    if not isinstance(url, str) or url not in SUPPORTED_URLS:
        return f"unsupported url {url!r} (use one of {', '.join(sorted(SUPPORTED_URLS))})"
    if not isinstance(request.method, str) or request.method.upper() != "POST":
        return f"method must be POST, got {request.method!r}"
    body = request.body
    if not isinstance(body, dict):
        return f"body must be a dict, got {type(body).__name__}"
    if check_body:
        try:
            orjson.dumps(body)
        except TypeError as err:
            return f"body is not JSON-serializable: {err}"
    return None


def refusal(request: Request, problem: str) -> Result:
    """The error line of a request that cannot be sent, under its own custom_id."""
    error = ErrorInfo("invalid_input", str(InputError(problem, line=request.line)))
    return Result(custom_id=request.custom_id, line=request.line, error=error, line_error=True)

"""Whether a request can be sent at all: checked before it reaches the ledger.

    problem = request_problem(request)    # None, or what is wrong, in one sentence

Requests built from input lines are already valid; ones handed to the library as
:class:`~surge.Request` objects are not checked by anything else. A problem becomes that
request's error line (``invalid_input``); it never reaches the HTTP layer, where a
custom_id with a newline would break the ``X-Client-Request-Id`` header.
"""

from __future__ import annotations

import re

import orjson

from ..io.formats import SUPPORTED_URLS
from ..models import Request

__all__ = ["request_problem"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def request_problem(request: Request, *, check_body: bool = True) -> str | None:
    """What makes ``request`` unsendable, or ``None``. ``check_body``: also serialize it."""
    custom_id = request.custom_id
    if not isinstance(custom_id, str) or not custom_id:
        return f"custom_id must be a non-empty string, got {custom_id!r}"
    if _CONTROL.search(custom_id):
        return f"custom_id {custom_id!r} contains a control character"
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

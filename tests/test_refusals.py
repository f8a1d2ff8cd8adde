"""RefusalLog: a request the server keeps refusing vs a refused rate (pure, no clock)."""

from __future__ import annotations

import pytest

from surge._limits.refusals import RefusalLog


def replay(log: RefusalLog, events: str) -> list[bool]:
    """``a``: another request admitted; ``x``/``y``: requests x/y refused (what it said)."""
    said = []
    for event in events:
        if event == "a":
            log.admitted("other")
        else:
            said.append(log.refused(event))
    return said


@pytest.mark.parametrize(
    ("events", "said"),
    [
        ("x", [True]),  # a first refusal may be the rate: the limiter weighs it
        ("xaax", [True, False]),  # refused again, others admitted meanwhile: the request
        ("xx", [True, True]),  # refused again, nothing admitted: maybe everything is refused
        ("xayx", [True, True, True]),  # another refused since (1 of 1 admitted): a rate
        ("x" + "a" * 40 + "y" + "x", [True, True, False]),  # 1 refused of 40 admitted: noise
        ("xaxaxax", [True, False, False, False]),  # every repeat of the same request
    ],
)
def test_which_refusals_say_something_about_the_rate(events: str, said: list[bool]) -> None:
    assert replay(RefusalLog(), events) == said


def test_a_request_admitted_at_last_is_forgotten() -> None:
    log = RefusalLog()
    assert log.refused("x")
    log.admitted("x")
    log.admitted("other")
    assert log.refused("x")  # a new story: its earlier refusal is gone
    assert "remembered=1" in repr(log)


def test_memory_is_bounded() -> None:
    log = RefusalLog(keep=3)
    for i in range(10):
        log.refused(f"r{i}")
    assert "remembered=3" in repr(log)  # r7, r8, r9
    for _ in range(40):
        log.admitted("other")
    assert log.refused("r0")  # forgotten long ago: a first refusal again (r7 goes)
    assert not log.refused("r9")  # still remembered: refused again while 40 were admitted
    assert log.refused("r7")

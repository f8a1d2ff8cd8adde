"""The pace after a 429 (RateControl) and the learned charge ratio (ChargeRatio): pure, no clock."""

from __future__ import annotations

import pytest

from surge import _constants as C
from surge._limits.control import RateControl
from surge._limits.learning import ChargeRatio

# -- RateControl ----------------------------------------------------------------------


def test_before_any_refusal_the_pace_is_the_ceiling() -> None:
    control = RateControl()
    assert control.rate(0.0, 20.0) == 20.0
    assert control.rate(0.0, None) is None


def test_a_refusal_cuts_in_proportion_then_recovers_just_under_it() -> None:
    control = RateControl()
    assert control.limited(now=10.0, current=20.0, measured=None, sent=100, mark=90)
    assert control.rate(10.0, 20.0) == pytest.approx(20.0 * C.DECREASE)
    later = control.rate(10.0 + 10 * C.RECOVERY_SECONDS, 20.0)
    assert later == pytest.approx(20.0 * C.PLATEAU, rel=1e-3)
    assert later < 20.0  # never back to the rate that was refused...
    # ...and with a known limit, no probing for a long time.
    assert control.rate(10.0 + C.KNOWN_PROBE_DELAY - 1, 20.0) == pytest.approx(20.0 * C.PLATEAU)


def test_refusals_of_requests_sent_before_the_cut_do_not_cut_again() -> None:
    control = RateControl()
    control.limited(now=10.0, current=20.0, measured=None, sent=100, mark=90)
    # Requests 91..100 were already on their way: their 429s are the same overshoot.
    assert not control.limited(now=10.1, current=16.0, measured=None, sent=105, mark=99)
    assert control.w_max == 20.0 and control.cut_at == 10.0
    # Within a second of the cut, even later requests are the same overshoot (a window
    # refuses everything until it ends, whatever the new pace).
    assert not control.limited(now=10.5, current=17.0, measured=None, sent=110, mark=101)
    # A request sent after the cut, refused a second later: the new pace is still too fast.
    assert control.limited(now=11.2, current=17.0, measured=None, sent=120, mark=111)
    assert control.w_max == 17.0


def test_a_refusal_below_the_known_limit_lowers_the_plateau_for_good() -> None:
    """A server enforcing per second what it announces per minute: stay under the refusal."""
    control = RateControl()
    control.limited(now=0.0, current=133.0, measured=None, sent=10, mark=5)
    for t in (1.0, 5.0, 30.0, 59.0):
        assert control.rate(t, 133.0) <= 133.0 * C.PLATEAU + 1e-9
    # Past the probe delay it creeps back towards the announced limit, never beyond.
    assert 133.0 * C.PLATEAU < control.rate(C.KNOWN_PROBE_DELAY + 30, 133.0) <= 133.0
    assert control.rate(C.KNOWN_PROBE_DELAY + 600, 133.0) == pytest.approx(133.0)


def test_with_no_pace_a_lone_refusal_sets_none() -> None:
    """One request refused now and then (the same one, or not) is no measured rate."""
    control = RateControl()
    assert not control.limited(now=1.0, current=None, measured=18.0, sent=40, mark=30)
    step = C.CORROBORATE_SECONDS + 0.1
    assert not control.limited(now=1.0 + step, current=None, measured=18.0, sent=80, mark=70)
    assert control.rate(1.0 + step, None) is None
    # Another refusal within CORROBORATE_SECONDS: several refused at once is a rate.
    assert control.limited(now=1.2 + step, current=None, measured=18.0, sent=85, mark=81)
    assert control.rate(1.2 + step, None) == pytest.approx(18.0 * C.DECREASE)


def test_without_a_ceiling_the_pace_starts_from_what_the_server_admitted() -> None:
    control = RateControl()
    assert not control.limited(now=0.9, current=None, measured=18.0, sent=39, mark=29)
    assert control.limited(now=1.0, current=None, measured=18.0, sent=40, mark=30)
    assert control.rate(1.0, None) == pytest.approx(18.0 * C.DECREASE)
    # Later, faster than the server admits: the answers' rate, not the pace, is the level.
    assert control.limited(now=9.0, current=30.0, measured=20.0, sent=200, mark=190)
    assert control.w_max == 20.0


def test_without_a_ceiling_it_probes_upward_after_a_quiet_spell() -> None:
    control = RateControl()
    control.limited(now=0.0, current=10.0, measured=None, sent=1, mark=1)
    quiet = control.rate(C.PROBE_DELAY, None)
    assert quiet is not None and quiet < 10.0
    probing = control.rate(C.PROBE_DELAY + 2.0, None)
    assert probing is not None and probing > 10.0


def test_refusals_at_the_same_level_make_probes_rarer() -> None:
    control = RateControl()
    delays = []
    mark = 0
    for i in range(8):
        mark += 10
        control.limited(now=100.0 * i, current=20.0, measured=None, sent=mark, mark=mark)
        delays.append(control.probe_delay)
    assert delays == sorted(delays)
    assert delays[-1] == C.MAX_PROBE_DELAY
    # A refusal at a clearly different level starts probing afresh.
    control.limited(now=1000.0, current=40.0, measured=None, sent=mark + 10, mark=mark + 10)
    assert control.probe_delay == C.PROBE_DELAY


def test_scale_keeps_the_real_pace() -> None:
    control = RateControl()
    control.limited(now=0.0, current=1000.0, measured=None, sent=1, mark=1)
    before = control.rate(5.0, None)
    control.scale(1.25)  # units are now 1.25x larger
    after = control.rate(5.0, None)
    assert before is not None and after is not None
    assert after == pytest.approx(before * 1.25)


# -- ChargeRatio ----------------------------------------------------------------------

LIMIT = 480_000.0  # per minute: 8,000 per second


def feed(ratio: ChargeRatio, true_ratio: float, *, n: int = 200, size: int = 600) -> None:
    """Requests of ``size`` estimated tokens every 0.1 s against a bucket that charges
    ``true_ratio`` times that and refills at LIMIT/60 per second."""
    remaining = LIMIT * 0.5
    estimated = 0
    for i in range(n):
        at = i * 0.1
        if i:
            remaining = min(LIMIT, remaining + 0.1 * LIMIT / 60)
        remaining -= size * true_ratio
        estimated += size
        ratio.reading(estimated=estimated, at=at, remaining=float(int(remaining)), limit=LIMIT)


@pytest.mark.parametrize("true_ratio", [0.74, 1.0, 1.35])
def test_ratio_is_learned_from_successive_remaining_readings(true_ratio: float) -> None:
    ratio = ChargeRatio()
    feed(ratio, true_ratio)
    assert ratio.samples > 5
    assert ratio.value == pytest.approx(true_ratio, rel=0.01)


def test_readings_near_a_full_bucket_are_skipped() -> None:
    ratio = ChargeRatio()
    for i in range(50):  # the bucket stays full: drops say nothing about the charge
        ratio.reading(estimated=600 * (i + 1), at=i * 0.1, remaining=LIMIT - 10, limit=LIMIT)
    assert ratio.samples == 0 and ratio.value == 1.0


def test_an_answer_older_than_the_anchor_is_ignored() -> None:
    ratio = ChargeRatio()
    ratio.reading(estimated=10_000, at=1.0, remaining=200_000, limit=LIMIT)
    ratio.reading(estimated=9_000, at=0.9, remaining=201_000, limit=LIMIT)
    assert ratio.samples == 0


def test_a_refusal_breaks_the_span() -> None:
    ratio = ChargeRatio()
    ratio.reading(estimated=0, at=0.0, remaining=200_000, limit=LIMIT)
    ratio.interrupt()
    ratio.reading(estimated=50_000, at=1.0, remaining=190_000, limit=LIMIT)
    assert ratio.samples == 0  # the second reading is the new anchor, not a sample


def test_usage_samples_move_the_ratio() -> None:
    ratio = ChargeRatio()
    for _ in range(100):  # one request's usage weighs less than a span of headers
        ratio.sample(estimated=100, charged=130)
    assert ratio.value == pytest.approx(1.3, rel=0.02)


def test_absurd_samples_are_clamped() -> None:
    ratio = ChargeRatio()
    ratio.sample(estimated=1, charged=10_000)
    assert ratio.value <= C.RATIO_MAX

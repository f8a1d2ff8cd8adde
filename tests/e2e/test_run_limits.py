"""Concurrency cap and rate limits, observed from the simulator's side of the wire."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

from surge import _constants as C
from surge.io.formats import content_id
from surge_sim.limiter import TokenBucket

from .helpers import (
    attempts_by_id,
    by_id,
    drain,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    sim_log,
    write_lines,
)


def _prompts(tmp_path: Path, n: int) -> Path:
    return write_lines(tmp_path / "in.txt", [f"prompt {i}" for i in range(n)])


def test_concurrency_cap_is_reached_and_never_exceeded(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(latency=0.05)
    out = tmp_path / "out.jsonl"
    proc = run_cli(_prompts(tmp_path, 60), "-o", out, *sim_args(sim, "-c", "7"))
    assert proc.returncode == 0, proc.stderr
    assert len(by_id(read_output(out))) == 60
    stats = sim.stats(log=False)
    assert stats["received"] == 60
    assert stats["max_in_flight"] == 7


def test_configured_rpm_paces_requests(sim_factory, tmp_path: Path) -> None:
    """--rpm 600 (10/s) for 40 requests: the last leaves after ~3.9 s, none is refused.

    The simulator's bucket starts full, so it would accept all 40 at once: the pacing seen
    in its log is surge's own. GCRA allows a burst of 0.25 s of rate (~3 requests), so any
    one-second window holds at most 10 + 3 arrivals.
    """
    sim = sim_factory(rpm=600)
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    proc = run_cli(_prompts(tmp_path, 40), "-o", out, *sim_args(sim, "-c", "40", "--rpm", "600"))
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert all(is_ok(r) for r in read_output(out))
    assert wall >= 3.5
    stats = sim.stats()
    assert stats["by_status"] == {"200": 40}
    arrivals = sorted(e["t"] for e in stats["requests"])
    assert arrivals[-1] - arrivals[0] >= 3.5
    for i, t in enumerate(arrivals):
        in_window = sum(1 for u in arrivals[i:] if u < t + 1.0)
        assert in_window <= 13, f"{in_window} requests within 1 s from t={t:.2f}"


def test_learned_rpm_keeps_429s_to_the_first_wave(sim_factory, tmp_path: Path) -> None:
    """No --rpm: surge learns 300/min from the x-ratelimit-* headers of the first answers.

    The simulator's quota is used up beforehand (a busy account), so it refills at 5/s.
    Before the first answer surge knows nothing and sends its first wave (FIRST_WAVE = 8
    requests) at once: at most 8 429s (fewer, since ~1 s of CLI start-up refilled ~5 slots),
    and they cut no pace (they were sent before any). From then on every answer says limit
    300 and remaining ~0; surge paces at 0.99 x 5/s, below the refill rate, so further 429s
    should not happen. The bound allows the whole first wave plus 2.
    (A limiter that let new requests take slots already promised to sleeping waiters
    showed 22-24 429s here, about one per success.)
    """
    sim = sim_factory(rpm=300)
    drain(sim, 305)
    sim.reset_stats()
    out = tmp_path / "out.jsonl"
    proc = run_cli(_prompts(tmp_path, 20), "-o", out, *sim_args(sim, "-c", "10"))
    assert proc.returncode == 0, proc.stderr
    assert len([r for r in read_output(out) if is_ok(r)]) == 20
    by_status = sim.stats(log=False)["by_status"]
    assert by_status["200"] == 20
    assert by_status.get("429", 0) <= C.FIRST_WAVE + 2, by_status


def test_configured_tpm_against_a_busy_server(sim_factory, tmp_path: Path) -> None:
    """--tpm 60000 (1000 tokens/s) with max_tokens=50: each request costs ~53 tokens.

    The simulator charges characters/4 + max_tokens as OpenAI does (its default), the same
    formula surge estimates with, and
    its token bucket is drained first so it admits only what refills (1000/s). Surge paces
    at 990/s with a 250-token burst: a couple of 429s at the start at most, and the tokens
    admitted per second stay at the limit.
    """
    sim = sim_factory(tpm=60_000)
    drain(sim, 15, max_tokens=4_000)  # 15 x ~4010 tokens > the 60,000 bucket
    sim.reset_stats()
    out = tmp_path / "out.jsonl"
    proc = run_cli(
        _prompts(tmp_path, 50),
        "-o",
        out,
        *sim_args(sim, "-c", "20", "--tpm", "60000", "--param", "max_tokens=50"),
    )
    assert proc.returncode == 0, proc.stderr
    records = read_output(out)
    assert len(records) == 50 and all(is_ok(r) for r in records)
    stats = sim.stats()
    assert stats["by_status"].get("429", 0) <= 3, stats["by_status"]
    text = {content_id(f"prompt {i}"): f"prompt {i}" for i in range(50)}
    cost = {r["custom_id"]: math.ceil(len(text[r["custom_id"]]) / 4) + 50 for r in records}
    admitted = sorted(
        (e["t"], cost[e["client_request_id"]]) for e in stats["requests"] if e["status"] == 200
    )
    span = admitted[-1][0] - admitted[0][0]
    total = sum(c for _, c in admitted)
    # Everything after the first admission had to be earned at <= 1000 tokens/s.
    assert (total - admitted[0][1]) / span <= 1000 * 1.05
    assert span >= (total - 250) / 1000 * 0.9


def test_retry_after_is_obeyed(sim_factory, tmp_path: Path) -> None:
    """After a 429, the same request is not sent again before the server said it could.

    The simulator (rolling 60/min, drained) answers a refused request with retry-after-ms =
    the time until one request fits. Its limiter is a pure model: starting from its state
    after the drain (the server is idle then), replaying the log through the same
    TokenBucket tells when each refused request could have come back. The log is in the
    order the bucket saw (with zero latency an entry is logged as it is admitted or
    refused); arrival times are a hair earlier than admissions, which only loosens the bound.
    """
    # A slow rate, so that the CLI's start-up (a second or more on a loaded machine)
    # refills too little of the drained quota for the refusals to vanish; a latency so
    # that answers (and their headers) come after the first wave.
    sim = sim_factory(rpm=60, latency=0.05)
    drain(sim, 70)
    sim.reset_stats()
    now = time.monotonic()
    level = sim.server.limits.requests.remaining(now)
    start = now - sim.server.stats.started  # the log's clock
    bucket = TokenBucket(60, now=start)
    bucket.take(60 - level, start)
    assert level < 1.5  # the quota really is used up

    out = tmp_path / "out.jsonl"
    # A client limit far above the server's: surge sends at once (no probe) and meets 429s.
    proc = run_cli(_prompts(tmp_path, 6), "-o", out, *sim_args(sim, "-c", "6", "--rpm", "6000"))
    assert proc.returncode == 0, proc.stderr
    assert len(by_id(read_output(out))) == 6

    ready_at: dict[tuple[str, float], float] = {}
    for entry in sorted(sim_log(sim), key=lambda e: e["t"]):  # 200s are logged late
        if entry["status"] == 200:
            bucket.take(1, entry["t"])
        elif entry["status"] == 429:
            wait = bucket.wait_for(1, entry["t"])
            ready_at[(entry["client_request_id"], entry["t"])] = entry["t"] + wait

    checked = 0
    for cid, entries in attempts_by_id(sim).items():
        for refused, retry in itertools.pairwise(entries):
            assert refused["status"] == 429
            earliest = ready_at[(cid, refused["t"])]
            assert retry["t"] >= earliest - 0.005, (
                f"{cid}: retried at {retry['t']:.3f}, server said not before {earliest:.3f}"
            )
            checked += 1
    assert checked >= 1  # the scenario really produced refusals and retries
    # The server asked for up to 1/rate = 1 s (how much depends on the bucket's fraction
    # at the refusal); the check above holds whatever it was.

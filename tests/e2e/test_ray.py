"""surge.ray on a local Ray cluster (2 CPUs, started once for this module) vs the simulator.

Actors are separate processes: they reach the simulator over loopback, and share one
budget actor for the rate limit. The simulator that times arrivals for the rate check runs
in its own process: in a thread of this one, the Ray driver's work here could stall it and
bunch the arrival times it records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

ray = pytest.importorskip("ray")

import surge  # noqa: E402
import surge.ray  # noqa: E402
from surge_sim import SimConfig, Simulator  # noqa: E402

from .helpers import SimProcess, chat_line  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    # On loopback: by default Ray binds its processes to the machine's own network address.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


@pytest.fixture
def limited_sim() -> Iterator[SimProcess]:
    sim = SimProcess("--rpm", "1200", "--latency", "0.02")
    yield sim
    sim.stop()


def _collect(ds: Any) -> list[dict[str, Any]]:
    return list(ds.take_all())


def test_rows_in_results_out_errors_as_rows_and_one_global_limit(
    limited_sim: SimProcess,
) -> None:
    rows: list[dict[str, Any]] = [chat_line(f"r{i}", f"question {i}") for i in range(56)]
    bad = chat_line("bad-method", "x")
    bad["method"] = "GET"  # surge refuses it before sending: an invalid_input row
    rows.append(bad)
    rows.append({"id": "p1", "prompt": "a prompt row"})
    rows.append(  # the server refuses it (no messages): an error row, not a failed job
        {
            "custom_id": "refused",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini"},
        }
    )
    ds = ray.data.from_items(rows)
    out = _collect(
        surge.ray.process(
            ds,
            endpoint=limited_sim.base_url,
            limits=surge.Limits(rpm=1200, concurrency=16),
            model="gpt-4o-mini",
            actors=2,
            batch_size=8,
        )
    )
    ids = [row["custom_id"] for row in out]
    assert sorted(ids) == sorted([f"r{i}" for i in range(56)] + ["bad-method", "p1", "refused"])
    by_id = {row["custom_id"]: row for row in out}
    for i in range(56):
        row = by_id[f"r{i}"]
        assert row["error"] is None
        assert orjson.loads(row["response"])["status_code"] == 200
    assert orjson.loads(by_id["p1"]["response"])["status_code"] == 200
    assert orjson.loads(by_id["bad-method"]["error"])["code"] == "invalid_input"
    assert by_id["bad-method"]["response"] is None
    refused = orjson.loads(by_id["refused"]["error"])
    assert orjson.loads(by_id["refused"]["response"])["status_code"] == 400, refused

    stats = limited_sim.stats()
    assert stats["by_status"].get("429", 0) == 0
    arrivals = sorted(e["t"] for e in stats["requests"])
    # Two actors, each told the whole limit: together still 1200/min at 99% (19.8/s).
    span = arrivals[-1] - arrivals[0]
    assert (len(arrivals) - 1) / span <= 20.0
    windows = [sum(1 for u in arrivals[i:] if u < t + 1.0) for i, t in enumerate(arrivals)]
    assert max(windows) <= 21


def test_resume_skips_ids_already_in_the_results_folder(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sim = Simulator(SimConfig()).start_thread()
    try:
        rows = [chat_line(f"r{i}", f"q {i}") for i in range(20)]
        results = tmp_path / "results"
        results.mkdir()
        # An earlier run's results: Parquet as write_parquet leaves them, and JSON lines
        # (with a torn last line, as a killed writer leaves it).
        pq.write_table(pa.table({"custom_id": [f"r{i}" for i in range(5)]}), results / "a.parquet")
        (results / "b.jsonl").write_text(
            '{"custom_id": "r5"}\n{"custom_id": "r6"}\n{"custom_id": "r7"', encoding="utf-8"
        )
        assert surge.ray.finished_ids(results) == {f"r{i}" for i in range(7)}

        resumed = surge.ray.process(
            ray.data.from_items(rows), endpoint=sim.base_url, actors=1, resume_from=results
        )
        ids = sorted(row["custom_id"] for row in resumed.take_all())
        assert ids == sorted(f"r{i}" for i in range(7, 20))
        assert sim.stats()["received"] == 13  # the 7 finished ids were never sent
    finally:
        sim.stop_thread()


def test_the_processor_works_in_a_plain_map_batches() -> None:
    sim = Simulator(SimConfig()).start_thread()
    try:
        ds = ray.data.from_items([{"id": f"x{i}", "prompt": f"p {i}"} for i in range(6)])
        out = ds.map_batches(
            surge.ray.SurgeProcessor,
            fn_constructor_kwargs={"endpoint": sim.base_url, "model": "gpt-4o-mini"},
            compute=ray.data.ActorPoolStrategy(size=1),
            batch_size=2,
        ).take_all()
        assert sorted(r["custom_id"] for r in out) == [f"x{i}" for i in range(6)]
        assert all(r["error"] is None for r in out)
        assert sim.stats()["received"] == 6
    finally:
        sim.stop_thread()

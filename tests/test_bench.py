"""``surge bench`` end to end against the simulator on loopback, with small sizes."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

from click.testing import CliRunner, Result

from surge.cli.bench import bench_command
from surge_sim import Simulator

SMALL = ["--latency", "0.05", "--n", "40", "--concurrency", "20", "--sequential-n", "5"]
CLEAN_ENV: dict[str, str | None] = {"OPENAI_BASE_URL": None, "OPENAI_API_KEY": None}


def run_bench(*args: str) -> Result:
    return CliRunner().invoke(bench_command, list(args), env=CLEAN_ENV)


def test_bench_extrapolates_and_reports_the_ratio() -> None:
    result = run_bench(*SMALL, "--progress", "plain")
    out = result.output
    assert result.exit_code == 0, out
    seq = re.search(r"sequential  5 requests, one at a time: ([\d.]+) s \(([\d.]+) req/s", out)
    assert seq, out
    assert "40 requests would take ~" in out
    assert "(extrapolated from the 5 sequential requests)" in out
    par = re.search(r"concurrent  40 requests, 20 in flight: ([\d.]+) s \(([\d.]+) req/s", out)
    assert par, out
    ratio = re.search(r"speedup     ([\d.]+)x", out)
    assert ratio and float(ratio[1]) > 3
    assert float(par[2]) > float(seq[2])
    assert "sequential: 5/5 done" in out and "concurrent: 40/40 done" in out  # progress
    assert "Traceback" not in out


def test_no_extrapolation_when_all_requests_ran_sequentially() -> None:
    result = run_bench("--latency", "0.02", "--n", "4", "--sequential-n", "10", "--quiet")
    assert result.exit_code == 0, result.output
    assert "sequential  4 requests" in result.output
    assert "extrapolated" not in result.output


def test_rate_capped_by_the_simulator_says_so() -> None:
    result = run_bench(
        "--latency", "0", "--n", "300", "--concurrency", "50", "--sequential-n", "2",
        "--sim-rpm", "6000", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "capped by the simulator's limit, 6,000 requests/min" in result.output


def test_against_an_endpoint(sim_factory: Callable[..., Simulator]) -> None:
    sim = sim_factory(latency=0.02, api_key="sk-bench-key")
    result = CliRunner().invoke(
        bench_command,
        ["--base-url", sim.base_url, "--n", "10", "--sequential-n", "3", "--quiet"],
        env={"OPENAI_API_KEY": "sk-bench-key", "OPENAI_BASE_URL": None},
    )
    assert result.exit_code == 0, result.output
    assert "sk-bench-key" not in result.output
    assert sim.stats(log=False)["by_status"] == {"200": 14}  # preflight + 3 + 10


def test_closed_port_fails_fast_with_a_clear_message() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_bench("--base-url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert f"cannot reach http://127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


def test_server_errors_are_reported(sim_factory: Callable[..., Simulator]) -> None:
    sim = sim_factory(error_500=1.0)
    result = run_bench("--base-url", sim.base_url)
    assert result.exit_code == 1
    assert "the first request to" in result.output and "HTTP 500" in result.output


def test_registered_in_the_cli() -> None:
    from surge.cli.main import cli

    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0
    assert "--sequential-n" in result.output

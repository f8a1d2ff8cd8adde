"""``surge demo`` end to end against the simulator on loopback, with small sizes.

The demo starts its own simulator when no endpoint is given; the tests that pass
``--base-url`` use a fixture simulator to stand in for a real provider.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from surge._schema import OutputSchema
from surge.cli.demo.command import demo_command
from surge.cli.demo.common import seconds, speedup
from surge.cli.demo.data import TEXT_MESSAGES, Sentiment, arxiv_lines, sentiment_requests
from surge_sim import Simulator

SMALL = ["--latency", "0.05", "--n", "100", "--concurrency", "50", "--progress", "plain"]
# No key and no endpoint from the developer's shell may leak into these runs.
CLEAN_ENV: dict[str, str | None] = {"OPENAI_BASE_URL": None, "OPENAI_API_KEY": None}


def run_demo(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(demo_command, list(args), env={**CLEAN_ENV, **(env or {})})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_demo_against_builtin_simulator_shows_measured_numbers() -> None:
    # 0.2 s answers: the sequential run then takes ~0.8 s longer than the concurrent one,
    # which no pause of this (long-lived, in-process) test run can make up; at 0.05 s a
    # 0.2 s collection of the test process's heap once flipped the comparison in CI.
    result = run_demo("--latency", "0.2", *SMALL[2:])
    out = result.output
    assert result.exit_code == 0, out
    assert "built-in simulator" in out
    # (a): every message answered twice, and the measured speedup.
    for message in TEXT_MESSAGES:
        assert out.count(message) == 2
    match = re.search(r"sequential ([\d.]+) s, concurrent ([\d.]+) s: ([\d.]+)x faster", out)
    assert match, out
    assert float(match[1]) > float(match[2])
    # (b): live progress lines, the summary and the extrapolated comparison.
    assert "arxiv digest: 100/100 done (100.0%)" in out
    assert "surge: 100 succeeded, 0 failed" in out
    assert re.search(r"wall time +[\d.]+s", out)
    assert re.search(r"one at a time this would take ~[\d.]+ s \(100 x [\d.]+ s mean", out)
    assert re.search(r"the simulator received \d+ requests .*at most \d+ at once", out)
    # (c): asking/answered lines, the parallel-phase comparison and the synthesis.
    assert out.count("asking") == 3 and out.count("answered") == 3
    assert re.search(r"parallel phase [\d.]+ s vs [\d.]+ s one after another", out)
    guide = out.split("travel guide for Lisbon", 1)[1]
    assert "[sim:" in guide
    assert re.search(r"demo finished in [\d.]+ s\n", out)
    assert "Traceback" not in out


def test_skip_sequential_quiet_and_city() -> None:
    result = run_demo(*SMALL, "--skip-sequential", "--quiet", "--city", "Kyoto")
    out = result.output
    assert result.exit_code == 0, out
    assert "(sequential run skipped)" in out
    assert "sequential 0" not in out
    assert "arxiv digest:" not in out  # no progress lines
    assert "asking" not in out
    assert "travel guide for Kyoto" in out


def test_workdir_keeps_files_and_a_rerun_starts_fresh(tmp_path: Path) -> None:
    for _ in range(2):
        result = run_demo(*SMALL, "--quiet", "--sim-errors", "0", "--workdir", str(tmp_path))
        assert result.exit_code == 0, result.output
        # Not "100 skipped (already done)": the demo never resumes an old output.
        assert "surge: 100 succeeded, 0 failed\n" in result.output
    lines = (tmp_path / "arxiv_results.jsonl").read_text().splitlines()
    assert len(lines) == 100


def test_closed_port_fails_fast_with_a_clear_message() -> None:
    port = closed_port()
    result = run_demo("--base-url", f"http://127.0.0.1:{port}/v1", "--n", "10")
    assert result.exit_code == 1
    assert f"cannot reach http://127.0.0.1:{port}/v1" in result.output
    assert "Check --base-url" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_malformed_base_url_is_a_usage_error() -> None:
    result = run_demo("--base-url", "localhost:8000/v1")
    assert result.exit_code == 2
    assert "must start with http:// or https://" in result.output


def test_real_endpoint_path_with_key_never_prints_it(
    sim_factory: Callable[..., Simulator],
) -> None:
    sim = sim_factory(latency=0.02, api_key="sk-right-key-123")
    result = run_demo(
        "--base-url", sim.base_url, "--api-key", "sk-right-key-123", "--n", "30", "--quiet"
    )
    assert result.exit_code == 0, result.output
    assert f"{sim.base_url} (API key set)" in result.output
    assert "this sends about 45 real requests" in result.output
    assert "sk-right-key-123" not in result.output
    # preflight 1 + (a) 10 + (b) 30 + (c) 3 + 1
    assert sim.stats(log=False)["by_status"] == {"200": 45}


def test_wrong_key_is_refused_clearly(sim_factory: Callable[..., Simulator]) -> None:
    sim = sim_factory(api_key="sk-right")
    result = run_demo("--base-url", sim.base_url, "--api-key", "sk-wrong-SECRET")
    assert result.exit_code == 1
    assert "refused the request" in result.output and "Check --api-key" in result.output
    assert "sk-wrong-SECRET" not in result.output


def test_env_key_alone_does_not_leave_the_simulator() -> None:
    result = run_demo(*SMALL, "--quiet", env={"OPENAI_API_KEY": "sk-env-secret"})
    assert result.exit_code == 0, result.output
    assert "built-in simulator" in result.output
    assert "sk-env-secret" not in result.output


def test_registered_in_the_cli() -> None:
    from surge.cli.main import cli

    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--skip-sequential" in result.output


def test_inputs_are_deterministic_and_distinct() -> None:
    lines = arxiv_lines(250, model="m")
    assert lines == arxiv_lines(250, model="m")
    assert len({line["custom_id"] for line in lines}) == 250
    assert len({line["body"]["messages"][1]["content"] for line in lines}) == 250
    request = sentiment_requests("m")[0]
    body = OutputSchema.coerce(Sentiment).apply(request.body, request.url)
    schema = body["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["strict"] is True
    assert schema["json_schema"]["schema"]["required"] == ["sentiment", "score"]


@pytest.mark.parametrize(
    ("value", "text"), [(0.8412, "0.84 s"), (5.12, "5.1 s"), (59.9, "59.9 s"), (245, "4m05s")]
)
def test_seconds(value: float, text: str) -> None:
    assert seconds(value) == text


def test_speedup() -> None:
    assert speedup(5.1, 1.1) == "4.6x"
    assert speedup(1000, 6) == "167x"

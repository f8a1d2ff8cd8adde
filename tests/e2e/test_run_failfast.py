"""A wrong endpoint stops the run within seconds (exit 2), having sent about one wave.

Every case drives the real CLI against a server on loopback: a refused key, a model the
server does not know, a closed port, a redirect. Transient trouble never trips it.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from aiohttp import web

from .helpers import cli_env, is_ok, read_output, run_cli, sim_args, write_lines
from .tiny_server import tiny_server

N = 400
WAVE = 20


def _prompts(tmp_path: Path, n: int = N) -> Path:
    return write_lines(tmp_path / "in.txt", [f"prompt {i}" for i in range(n)])


def test_refused_key_stops_within_seconds_after_one_wave(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(api_key="sk-right", latency=0.05)
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    proc = run_cli(
        _prompts(tmp_path), "-o", out, *sim_args(sim, "-c", WAVE), env=cli_env(OPENAI_API_KEY="x")
    )
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert took < 5, took
    sent = sim.stats(log=False)["by_status"].get("401", 0)
    assert 1 <= sent <= 2 * WAVE, sent
    assert "refused the request" in proc.stderr and "--api-key" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert read_output(out) == []  # nothing recorded: the same command resumes every line
    fixed = run_cli(
        _prompts(tmp_path), "-o", out, *sim_args(sim), env=cli_env(OPENAI_API_KEY="sk-right")
    )
    assert fixed.returncode == 0, fixed.stderr
    assert len(read_output(out)) == N


def test_unknown_model_stops_the_run(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(strict_models=True, latency=0.05)
    out = tmp_path / "out.jsonl"
    args = [a if a != "gpt-4o-mini" else "gpt-9-imaginary" for a in sim_args(sim, "-c", WAVE)]
    started = time.monotonic()
    proc = run_cli(_prompts(tmp_path), "-o", out, *args)
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - started < 5
    assert sim.stats(log=False)["by_status"].get("404", 0) <= 2 * WAVE
    assert "404" in proc.stderr and "gpt-9-imaginary" in proc.stderr
    assert read_output(out) == []


def test_closed_port_stops_the_run(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    proc = run_cli(
        _prompts(tmp_path),
        "-o",
        out,
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
        "--model",
        "m",
        "--progress",
        "none",
    )
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - started < 5
    assert "cannot reach" in proc.stderr and "--base-url" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert read_output(out) == []


def test_https_to_a_plain_http_port_stops_the_run(sim, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    url = sim.base_url.replace("http://", "https://")
    proc = run_cli(_prompts(tmp_path, 50), "-o", out, "--base-url", url, "--model", "m")
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach" in proc.stderr
    assert sim.stats(log=False)["received"] == 0


def test_transient_errors_never_trip_it(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(fail_first=1, reset=0.2, seed=4)  # every request fails at least once
    out = tmp_path / "out.jsonl"
    proc = run_cli(_prompts(tmp_path, 100), "-o", out, *sim_args(sim, "-c", 10))
    assert proc.returncode == 0, proc.stderr
    assert all(is_ok(r) for r in read_output(out))


def test_a_redirect_is_not_followed_and_stops_the_run(tmp_path: Path) -> None:
    """A cross-origin 307 with a custom auth header: the header never reaches the other
    origin, and the error names where the server wanted to send it."""

    async def target(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "should never be reached"})

    with tiny_server(target) as other:

        async def redirect(request: web.Request) -> web.StreamResponse:
            raise web.HTTPTemporaryRedirect(other.url + "/v1/chat/completions")

        with tiny_server(redirect) as first:
            out = tmp_path / "out.jsonl"
            proc = run_cli(
                _prompts(tmp_path, 30),
                "-o",
                out,
                "--base-url",
                first.url + "/v1",
                "--model",
                "m",
                "--api-key",
                "sk-never-forwarded",
            )
            assert first.seen, "the first server saw nothing"
    assert proc.returncode == 2, proc.stderr
    assert other.url in proc.stderr and "redirect" in proc.stderr
    assert other.seen == []


def test_check_probes_with_the_first_request_and_writes_nothing(sim, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    proc = run_cli(_prompts(tmp_path), "-o", out, *sim_args(sim), "--check")
    assert proc.returncode == 0, proc.stderr
    assert "check passed" in proc.stderr and "200" in proc.stderr
    assert not out.exists()
    assert sim.stats(log=False)["received"] == 1


def test_check_reports_a_refused_key(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(api_key="sk-right")
    out = tmp_path / "out.jsonl"
    proc = run_cli(_prompts(tmp_path), "-o", out, *sim_args(sim), "--check", "--api-key", "no")
    assert proc.returncode == 2, proc.stderr
    assert "check failed" in proc.stderr and "--api-key" in proc.stderr
    assert sim.stats(log=False)["received"] == 1

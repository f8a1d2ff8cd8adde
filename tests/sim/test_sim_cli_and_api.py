"""The public surface: ``__all__``, independence from the engine, and ``python -m surge_sim``."""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
from click.testing import CliRunner

import surge_sim
from surge_sim import SimConfig, Simulator
from surge_sim.cli import sim_command

from .helpers import chat

SIM_DIR = Path(surge_sim.__file__).parent


def test_public_api_is_pinned() -> None:
    assert surge_sim.__all__ == ["SimConfig", "Simulator", "prompt_digest"]


def test_simulator_imports_nothing_from_surge_outside_sim() -> None:
    for path in SIM_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level == 0:
                    assert not module.startswith("surge") or module.startswith("surge_sim"), path
                else:
                    assert node.level == 1, f"{path}: relative import leaves surge_sim"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.name
                    assert not name.startswith("surge") or name.startswith("surge_sim"), path


def test_cli_help_lists_the_options() -> None:
    result = CliRunner().invoke(sim_command, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--port",
        "--rpm",
        "--tpm",
        "--limit-mode",
        "--error-503",
        "--reset",
        "--hang",
        "--slow-start",
        "--fail-first",
        "--seed",
        "--api-key",
        "--no-log",
        "--uvloop",
    ):
        assert option in result.output


def test_cli_rejects_bad_rates() -> None:
    result = CliRunner().invoke(sim_command, ["--error-500", "0.7", "--error-503", "0.7"])
    assert result.exit_code != 0
    assert "add up" in result.output


def test_python_m_surge_sim_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "surge_sim", "--port", "0", "--rpm", "600", "--seed", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        prefix = "surge sim listening on "
        assert line.startswith(prefix), line
        base_url = line[len(prefix) :]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
        request = urllib.request.Request(
            base_url + "/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["x-ratelimit-limit-requests"] == "600"
            assert json.load(resp)["choices"][0]["message"]["content"].startswith("[sim:")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0


async def test_async_context_manager_in_the_callers_loop() -> None:
    async with Simulator(SimConfig(seed=4)) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/v1")
        async with (
            aiohttp.ClientSession() as session,
            session.post(sim.base_url + "/chat/completions", json=chat("x")) as resp,
        ):
            assert resp.status == 200
        assert sim.stats()["by_status"] == {"200": 1}
        assert "stopped" not in repr(sim)
    assert "stopped" in repr(sim)


def test_run_in_thread_for_sync_callers() -> None:
    sim = Simulator(SimConfig())
    with sim.run_in_thread() as running:
        assert running is sim
        body = json.dumps(chat("sync")).encode()
        request = urllib.request.Request(
            sim.base_url + "/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
        assert sim.stats(log=False)["received"] == 1
    # Restartable after a stop, on a new loop.
    with (
        sim.run_in_thread(use_uvloop=True),
        urllib.request.urlopen(sim.url + "/health", timeout=5) as resp,
    ):
        assert resp.status == 200

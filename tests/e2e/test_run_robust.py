"""No request can hang or crash a run; a failure of the run itself stops it cleanly.

Real CLI subprocesses against the simulator (or a tiny server for answers no provider
gives: an HTML page, an HTTP proxy).
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from .helpers import (
    CLI,
    Drain,
    by_id,
    chat_line,
    cli_env,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    wait_for_lines,
    write_jsonl,
    write_lines,
)
from .tiny_server import forward, tiny_server


def test_custom_id_with_a_control_character_is_that_lines_error(sim, tmp_path: Path) -> None:
    rows = [chat_line("ok-1", "a"), chat_line("bad\nid", "b"), chat_line("tab\tid", "c")]
    rows.append(chat_line("ok-2", "d"))
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim))
    assert proc.returncode == 1, proc.stderr
    records = by_id(read_output(out))
    assert is_ok(records["ok-1"]) and is_ok(records["ok-2"])
    for line in (2, 3):
        error = records[f"line-{line}"]["error"]
        assert error["code"] == "invalid_input" and "control character" in error["message"]
    assert "Traceback" not in proc.stderr


def _limited(max_bytes: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write(), not a core dump
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


def test_output_hitting_a_file_size_limit_stops_cleanly(sim, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "in.txt", [f"prompt {i}" for i in range(300)])
    out = tmp_path / "out.jsonl"
    args = [*CLI, str(src), "-o", str(out), *sim_args(sim, "-c", 10)]
    started = time.monotonic()
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env(),
        preexec_fn=lambda: _limited(20_000),
    )
    assert time.monotonic() - started < 15
    assert proc.returncode == 3, proc.stderr
    assert "cannot write" in proc.stderr and "Resume" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.stat().st_size <= 20_000
    # The printed command, without the limit, finishes the job: each id exactly once.
    again = run_cli(src, "-o", out, *sim_args(sim, "-c", 10))
    assert again.returncode == 0, again.stderr
    records = by_id(read_output(out))
    assert len(records) == 300 and all(is_ok(r) for r in records.values())


def test_a_200_html_page_is_retried_then_an_error(tmp_path: Path) -> None:
    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, text="<html>proxy login</html>", content_type="text/html")

    with tiny_server(html) as server:
        src = write_lines(tmp_path / "in.txt", ["a", "b", "c"])
        out = tmp_path / "out.jsonl"
        proc = run_cli(
            src, "-o", out, "--base-url", server.url + "/v1", "--model", "m", "--max-retries", "1"
        )
    assert proc.returncode == 1, proc.stderr
    records = read_output(out)
    assert len(records) == 3
    for record in records:
        assert record["error"]["code"] == "invalid_response"
        assert "<html>" in record["error"]["message"]
        assert record["surge"]["attempts"] == 2
    assert len(server.seen) == 6


def test_slow_stdin_lines_go_out_as_they_arrive_and_sigint_exits(sim, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [*CLI, "-", "-o", str(out), *sim_args(sim)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    drain = Drain(proc)
    try:
        assert proc.stdin is not None
        for i in range(3):  # the producer stays open: the lines must not wait for more
            proc.stdin.write(f"prompt {i}\n")
            proc.stdin.flush()
        wait_for_lines(out, 3, proc, timeout=10)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = drain.wait(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, drain.stderr
    assert "Resume with" in drain.stderr and "Traceback" not in drain.stderr
    assert len(read_output(out)) == 3


def test_proxy_from_the_environment_is_used_unless_no_proxy(sim, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "in.txt", ["a", "b"])
    with tiny_server(forward) as proxy:
        via = run_cli(
            src,
            "-o",
            tmp_path / "via.jsonl",
            *sim_args(sim),
            env=cli_env(HTTP_PROXY=proxy.url, NO_PROXY=""),
        )
        assert via.returncode == 0, via.stderr
        assert len(proxy.seen) == 2 and all(sim.base_url in url for _, url, _ in proxy.seen)
        direct = run_cli(
            src,
            "-o",
            tmp_path / "direct.jsonl",
            *sim_args(sim),
            env=cli_env(HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1"),
        )
        assert direct.returncode == 0, direct.stderr
        assert len(proxy.seen) == 2
    assert sim.stats(log=False)["received"] == 4


def test_sim_port_errors_are_one_line() -> None:
    sim_cli = [sys.executable, "-m", "surge.cli.main", "sim"]
    out_of_range = subprocess.run(
        [*sim_cli, "--port", "70000"], capture_output=True, text=True, timeout=30
    )
    assert out_of_range.returncode == 2 and "70000" in out_of_range.stderr
    assert "Traceback" not in out_of_range.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        in_use = subprocess.run(
            [*sim_cli, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert in_use.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in in_use.stderr
    assert "Traceback" not in in_use.stderr and len(in_use.stderr.strip().splitlines()) == 1


_IMPORTS = """
import sys
import surge
assert "surge_sim" not in sys.modules and "jsonschema" not in sys.modules, "import surge"
from surge.cli.main import cli
try:
    cli.main(args=sys.argv[1:], prog_name="surge", standalone_mode=False)
except SystemExit as exit:
    assert exit.code == 0, exit.code
loaded = sorted(m for m in sys.modules if m.startswith(("surge_sim", "jsonschema")))
assert not loaded, loaded
print("clean")
"""


def test_import_surge_and_surge_run_load_neither_the_simulator_nor_jsonschema(
    sim, tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "in.txt", ["a"])
    args = ["run", str(src), "-o", str(tmp_path / "out.jsonl"), *sim_args(sim)]
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        cwd=os.fspath(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert "clean" in proc.stdout

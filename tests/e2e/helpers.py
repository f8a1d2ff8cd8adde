"""Drive the real ``surge run`` CLI in a subprocess and read what it wrote.

    proc = run_cli(input_path, "-o", out, "--model", "m", "--base-url", sim.base_url)
    records = read_output(out)          # one dict per output line, in file order
    assert answer_digest(records[0]) == prompt_digest("hello")

Nothing here touches the HTTP layer: the CLI talks to a simulator over loopback.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from surge_sim import Simulator

CLI = [sys.executable, "-m", "surge.cli.main", "run"]
_TAG = re.compile(r"^\[sim:([0-9a-f]{12})\]")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for the CLI: no real provider settings leak in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(extra)
    return env


def run_cli(
    *args: str | Path,
    stdin: str | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``surge run ARGS`` to completion; returns the process with text stdout/stderr."""
    return subprocess.run(
        [*CLI, *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
    )


def start_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``surge run ARGS`` in the background (for signals and memory sampling)."""
    return subprocess.Popen(
        [*CLI, *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or cli_env(),
    )


def sim_args(sim: Simulator | SimProcess, *extra: str | Path) -> list[str]:
    """Options every run against ``sim`` needs: base URL, a model, no progress display."""
    return [
        "--base-url",
        sim.base_url,
        "--model",
        "gpt-4o-mini",
        "--progress",
        "none",
        *map(str, extra),
    ]


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    return write_lines(path, (orjson.dumps(row).decode() for row in rows))


def chat_line(custom_id: str, text: str, *, model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A Batch API request line for /v1/chat/completions."""
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}]},
    }


def read_output(path: Path) -> list[dict[str, Any]]:
    """Every line of an output file, parsed; fails loudly on a line that is not JSON."""
    raw = path.read_bytes()
    assert not raw or raw.endswith(b"\n"), "the output does not end with a newline"
    records = []
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as err:
            raise AssertionError(f"{path}:{number} is not JSON: {line[:200]!r}") from err
    return records


def by_id(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records keyed by custom_id; fails if any custom_id appears twice."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        cid = record["custom_id"]
        assert cid not in out, f"custom_id {cid!r} appears twice in the output"
        out[cid] = record
    return out


def is_ok(record: dict[str, Any]) -> bool:
    response = record.get("response")
    return record.get("error") is None and bool(response) and response["status_code"] == 200


def answer_text(record: dict[str, Any]) -> str:
    """The answer's text for chat or Responses API bodies."""
    body = record["response"]["body"]
    if "choices" in body:
        return str(body["choices"][0]["message"]["content"])
    parts = [
        part["text"]
        for item in body["output"]
        if item.get("type") == "message"
        for part in item["content"]
        if part.get("type") == "output_text"
    ]
    return "".join(parts)


def answer_digest(record: dict[str, Any]) -> str:
    """The ``[sim:<digest>]`` tag the simulator puts at the start of every answer."""
    match = _TAG.match(answer_text(record))
    assert match, f"no [sim:...] tag in {answer_text(record)[:80]!r}"
    return match.group(1)


def sim_log(sim: Simulator) -> list[dict[str, Any]]:
    return list(sim.stats()["requests"])


def attempts_by_id(sim: Simulator) -> dict[str, list[dict[str, Any]]]:
    """The simulator's log entries grouped by X-Client-Request-Id, in arrival order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in sorted(sim_log(sim), key=lambda e: e["t"]):
        out.setdefault(entry["client_request_id"], []).append(entry)
    return out


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], timeout: float = 20.0) -> int:
    """Poll until ``path`` has at least ``n`` lines; returns the count seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = count_lines(path)
        if seen >= n:
            return seen
        assert proc.poll() is None, f"surge exited early: {proc.returncode}"
        time.sleep(0.01)
    raise AssertionError(f"{path} did not reach {n} lines in {timeout}s")


class Drain:
    """Read a process's stdout/stderr in threads so a full pipe never blocks it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)


@dataclass
class MemoryTrace:
    """RSS samples of a process, each with how far the run had got (requests received)."""

    samples: list[tuple[int, float]] = field(default_factory=list)  # (progress, MB)

    @property
    def peak(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)

    def growth_after(self, progress: int) -> float:
        """MB gained from the first sample at ``progress`` or later to the run's highest."""
        later = [mb for done, mb in self.samples if done >= progress]
        assert later, f"no sample past {progress} requests: {self.samples[-3:]}"
        return max(later) - later[0]


def trace_memory(
    drained: Drain, progress: Callable[[], int], *, timeout: float, every: float = 0.05
) -> MemoryTrace:
    """Sample ``drained``'s RSS (psutil) and ``progress()`` until the process exits."""
    import psutil

    trace = MemoryTrace()
    ps = psutil.Process(drained.proc.pid)
    deadline = time.monotonic() + timeout
    while drained.proc.poll() is None and time.monotonic() < deadline:
        try:
            trace.samples.append((progress(), ps.memory_info().rss / 2**20))
        except psutil.NoSuchProcess:
            break
        time.sleep(every)
    return trace


def drain(sim: Simulator, requests: int, *, max_tokens: int | None = None) -> None:
    """Use up the simulator's rate-limit quota with direct requests (not through surge).

    The simulator's buckets start full (capacity = the per-minute limit), so a run that
    starts on a fresh simulator would never meet a limit; a real account in use would.
    """
    import asyncio

    import aiohttp

    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "drain"}],
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens

    async def go() -> None:
        gate = asyncio.Semaphore(32)
        async with aiohttp.ClientSession() as session:

            async def one() -> None:
                async with (
                    gate,
                    session.post(sim.base_url + "/chat/completions", json=body) as resp,
                ):
                    await resp.read()

            await asyncio.gather(*(one() for _ in range(requests)))

    asyncio.run(go())


@contextlib.contextmanager
def cli_process(*args: str | Path, env: dict[str, str] | None = None) -> Iterator[Drain]:
    """``surge run ARGS`` in the background; killed at the end if it is still running.

    A test that fails half-way (a hang after a signal, say) must not leave a CLI behind
    that keeps a core busy for the rest of the suite.
    """
    drain = Drain(start_cli(*args, env=env))
    try:
        yield drain
    finally:
        if drain.proc.poll() is None:
            drain.proc.kill()
            drain.proc.wait(timeout=10)


class SimProcess:
    """``python -m surge_sim`` in its own process: its base URL and its ``/stats``.

    For tests that time arrivals: a simulator in a thread of the test process shares its
    interpreter with whatever the test does meanwhile (draining CLI output, a Ray driver),
    which can stall it and bunch the arrival times it records.
    """

    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "surge_sim", "--port", "0", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "surge sim listening on http://.../v1"
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        self.base_url = match.group(1).rstrip("/")
        # Whatever it prints later is drained, so a full pipe can never block it.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stats(self) -> dict[str, Any]:
        root = self.base_url.removesuffix("/v1")
        with urllib.request.urlopen(root + "/stats", timeout=10) as resp:
            data: dict[str, Any] = orjson.loads(resp.read())
        return data

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

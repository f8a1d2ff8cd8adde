"""Shared pieces of the benchmark scripts: the simulator process, payloads, baselines, tables.

    with sim("--latency", "0.3", "--jitter", "0.1") as server:
        rows = [raw_aiohttp(server.url, 1000, 100), surge_amap(server.url, 1000, 100)]
    print_table(rows)

Every client, surge included, talks to ``python -m surge_sim`` running as a *separate
process* so that the server gets its own core (a benchmark box has 2). All async clients
run on the same event loop implementation (uvloop when installed, as surge's CLI uses it),
so the comparison is about the client code, not the loop. Walls are measured inside the
process from the first request to the last answer, client set-up and teardown included,
interpreter start-up excluded; the ``surge run`` CLI is timed separately, start-up included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"  # gitignored scratch space for big input/output files
MODEL = "gpt-4.1-mini"
API_KEY = "sk-test"
CHAT_PATH = "/v1/chat/completions"
USE_UVLOOP = os.environ.get("SURGE_BENCH_NO_UVLOOP") != "1"


# --------------------------------------------------------------------------- simulator


@dataclass
class Sim:
    url: str  # ends in /v1
    proc: subprocess.Popen[str]

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    def stats(self) -> dict[str, Any]:
        """The simulator's ``GET /stats`` document."""
        with urllib.request.urlopen(self.root + "/stats", timeout=10) as resp:
            data: dict[str, Any] = json.load(resp)
        return data

    def statuses(self) -> dict[str, int]:
        """Answers sent so far by HTTP status (``{"200": n, "429": n, ...}``)."""
        return {str(k): int(v) for k, v in (self.stats().get("by_status") or {}).items()}


@contextlib.contextmanager
def sim(*args: str, startup_timeout: float = 20.0) -> Iterator[Sim]:
    """Run ``python -m surge_sim --port 0 ARGS`` in its own process for the ``with`` block."""
    cmd = [sys.executable, "-m", "surge_sim", "--port", "0", "--seed", "1", *args]
    with tempfile.TemporaryFile(mode="w+") as errlog:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errlog, text=True)
        try:
            url = _read_url(proc, startup_timeout)
            if url is None:
                proc.kill()
                proc.wait()
                errlog.seek(0)
                sys.exit(
                    f"could not start the simulator ({' '.join(cmd[1:])}):\n"
                    f"{errlog.read()[-2000:]}\n"
                    "surge_sim may not exist yet in this checkout; every benchmark needs it."
                )
            yield Sim(url, proc)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _read_url(proc: subprocess.Popen[str], timeout: float) -> str | None:
    # readline() blocks, so a daemon thread reads; it keeps draining stdout afterwards so
    # that a chatty simulator can never block on a full pipe.
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = None if found else re.search(r"listening on (http://\S+)", line)
            if match:
                found.append(match.group(1).rstrip("/"))
                ready.set()
        ready.set()  # EOF: the simulator exited

    threading.Thread(target=read, daemon=True).start()
    ready.wait(timeout)
    return found[0] if found else None


def status_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)
    }


# --------------------------------------------------------------------------- payloads


def chat_body(i: int) -> dict[str, Any]:
    """The same small chat request for every client (``i`` makes bodies distinct)."""
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Question {i}: name a prime number."}],
        "max_tokens": 16,
    }


def batch_line(i: int) -> dict[str, Any]:
    """One OpenAI Batch API request line (what ``surge run`` and ``surge.amap`` take)."""
    return {"custom_id": f"req-{i}", "method": "POST", "url": CHAT_PATH, "body": chat_body(i)}


def write_input(path: Path, n: int) -> Path:
    """Write ``n`` Batch-API request lines to ``path`` (reused when already there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and sum(1 for _ in path.open("rb")) == n:
        return path
    with path.open("w") as fp:
        for i in range(n):
            fp.write(json.dumps(batch_line(i), separators=(",", ":")) + "\n")
    return path


# --------------------------------------------------------------------------- timing, results


@dataclass
class Outcome:
    """One measured client run."""

    name: str
    n: int
    ok: int
    wall: float
    attempts: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    note: str = ""
    peak_rss_mb: float | None = None
    latencies: list[float] = field(default_factory=list)  # per request, input order (surge)

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall > 0 else 0.0

    @property
    def retries(self) -> int | None:
        return None if self.attempts is None else self.attempts - self.n

    @property
    def rate_limited(self) -> int:
        return self.statuses.get("429", 0)


def run_async(factory: Callable[[], Coroutine[Any, Any, Outcome]]) -> Outcome:
    """Run one async benchmark on a fresh event loop (uvloop when installed)."""
    if USE_UVLOOP:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(factory())
    return asyncio.run(factory())


def loop_name() -> str:
    if USE_UVLOOP:
        with contextlib.suppress(ImportError):
            import uvloop

            return f"uvloop {getattr(uvloop, '__version__', '?')}"
    return "asyncio"


def fmt(value: float | int | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Outcome], title: str = "") -> None:
    """Print outcomes as an aligned table (req/s are successes per wall second)."""
    if title:
        print(f"\n{title}")
    header = ("client", "n", "ok", "wall s", "ok req/s", "retries", "429s", "peak MB", "note")
    table = [
        (
            r.name,
            fmt(r.n),
            fmt(r.ok),
            fmt(r.wall, ".2f"),
            fmt(r.rate, ",.1f"),
            fmt(r.retries),
            fmt(r.rate_limited if r.statuses else None),
            fmt(r.peak_rss_mb, ".0f"),
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=True)]
    for i, line in enumerate([header, *table]):
        print(
            "  ".join(
                str(x).ljust(w) if j in (0, 8) else str(x).rjust(w)
                for j, (x, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))


def ratio_line(label: str, value: float, target: str) -> None:
    print(f"{label} = {value:.2f}   (target {target})")


def base_parser(description: str, *, n: int, concurrency: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=n, help=f"requests (default {n})")
    parser.add_argument(
        "--concurrency", type=int, default=concurrency, help=f"in flight (default {concurrency})"
    )
    parser.add_argument("--no-surge", action="store_true", help="measure the baselines only")
    return parser


def measured(server: Sim, fn: Callable[[], Outcome]) -> Outcome:
    """Run ``fn`` and attach the statuses the simulator sent meanwhile (429s etc.)."""
    before = server.statuses()
    outcome = fn()
    outcome.statuses = status_delta(before, server.statuses())
    if outcome.attempts is None:
        outcome.attempts = sum(outcome.statuses.values()) or None
    return outcome


# --------------------------------------------------------------------------- surge


def require_surge() -> Any:
    """Import surge and check the library API the benchmarks use, or exit saying what's missing."""
    try:
        import surge
    except ImportError as err:
        sys.exit(f"cannot import surge ({err}); install the package (pip install -e .)")
    needed = ("amap", "Endpoint", "Limits", "RetryPolicy", "RunOptions")
    missing = [name for name in needed if not hasattr(surge, name)]
    if missing:
        sys.exit(
            f"surge's library API is missing {', '.join(missing)}: the engine has not landed in "
            "this checkout yet. Run with --no-surge to measure the baselines only."
        )
    return surge


def surge_amap(
    base_url: str,
    n: int,
    concurrency: int,
    *,
    rpm: float | None = None,
    tpm: float | None = None,
    max_retries: int = 6,
    timeout: float = 30,
    name: str = "surge amap",
) -> Outcome:
    """surge's library API, in-process, measured exactly like the baselines."""
    surge = require_surge()

    async def main() -> Outcome:
        requests = [batch_line(i) for i in range(n)]
        t0 = time.perf_counter()
        results = await surge.amap(
            requests,
            endpoint=surge.Endpoint(base_url=base_url, api_key=API_KEY),
            limits=surge.Limits(concurrency=concurrency, rpm=rpm, tpm=tpm),
            retry=surge.RetryPolicy(max_retries=max_retries),
            timeout=timeout,
            options=surge.RunOptions(model=MODEL),
        )
        wall = time.perf_counter() - t0
        ok = sum(1 for r in results if r.ok)
        attempts = sum(r.attempts for r in results)
        latencies = [r.latency or 0.0 for r in results]
        return Outcome(name, n, ok, wall, attempts=attempts, latencies=latencies)

    return run_async(main)


def greedy_makespan(latencies: list[float], concurrency: int) -> float:
    """Wall of a zero-overhead client: C workers each take the next request when free.

    With jittered latencies no client can beat this (the last requests' tails remain),
    so it is the honest floor to compare a real client's wall with.
    """
    free_at = [0.0] * concurrency
    for latency in latencies:
        heapq.heappush(free_at, heapq.heappop(free_at) + latency)
    return max(free_at)


def surge_command() -> list[str]:
    """How to launch the ``surge`` CLI from this interpreter's environment."""
    script = Path(sys.executable).with_name("surge")
    if script.exists():
        return [str(script)]
    found = shutil.which("surge")
    if found:
        return [found]
    return [sys.executable, "-c", "from surge.cli.main import main; main()"]


def surge_cli_args(inp: Path, out: Path, base_url: str, concurrency: int, *extra: str) -> list[str]:
    options = {
        "--base-url": base_url,
        "--api-key": API_KEY,
        "--model": MODEL,
        "--concurrency": str(concurrency),
        "-o": str(out),
    }
    return [*surge_command(), "run", str(inp), *sum(options.items(), ()), "--quiet", *extra]


def count_ok(output: Path) -> tuple[int, int]:
    """(successful records, attempts) in a ``surge run`` output file (Batch API format)."""
    ok = attempts = 0
    with output.open("rb") as fp:
        for line in fp:
            record = json.loads(line)
            response = record.get("response") or {}
            if record.get("error") is None and response.get("status_code") == 200:
                ok += 1
            attempts += int((record.get("surge") or {}).get("attempts") or 0)
    return ok, attempts


def surge_cli(
    base_url: str,
    n: int,
    concurrency: int,
    *extra: str,
    name: str = "surge run (CLI)",
    sample_rss: bool = False,
    fresh: bool = True,
) -> Outcome:
    """``surge run`` as a subprocess; wall includes interpreter start-up and file I/O.

    ``fresh=False`` keeps the output of an earlier run: the run is then a resume.
    """
    require_surge()
    if importlib.util.find_spec("surge.cli.main") is None:
        sys.exit(
            "surge's CLI (surge.cli.main) is not in this checkout yet: cannot time `surge run`."
        )
    inp = write_input(WORK / f"input-{n}.jsonl", n)
    out = WORK / f"output-{n}.jsonl"
    if fresh:
        out.unlink(missing_ok=True)  # a fresh run, not a resume
    cmd = surge_cli_args(inp, out, base_url, concurrency, *extra)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = _sample_peak_rss(proc) if sample_rss else None
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1) or not out.exists():
        sys.exit(f"surge run failed with exit code {proc.returncode}:\n{err[-3000:]}")
    ok, attempts = count_ok(out)
    return Outcome(
        name, n, ok, wall, attempts=attempts or None, peak_rss_mb=peak, note="start-up incl."
    )


def _sample_peak_rss(proc: subprocess.Popen[str], every: float = 0.05) -> float:
    """Peak resident memory (MB) of ``proc`` and its children, sampled every 50 ms."""
    import psutil

    peak = 0
    try:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            rss = parent.memory_info().rss
            for child in parent.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss += child.memory_info().rss
            peak = max(peak, rss)
            time.sleep(every)
    except psutil.Error:
        pass  # the process ended between two samples
    return peak / 2**20

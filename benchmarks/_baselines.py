"""The five baselines surge is measured against, each ``(base_url, n, concurrency) -> Outcome``.

    outcome = raw_aiohttp("http://127.0.0.1:8000/v1", 3000, 200)
    print(outcome.ok, outcome.wall)

They are deliberately what a competent user would write in a few lines, not tuned
straw men: the SDK ones turn retries off (``max_retries=0``) unless a scenario says
otherwise, so that the timing shows the client and not the SDK's backoff. Running this
file runs one baseline and prints its outcome as JSON (``bench_memory`` samples its RSS):

    python benchmarks/_baselines.py gather http://127.0.0.1:8000/v1 50000 200
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Imported up front, not per call: an import inside a timed scenario would let a rate
# limiter's bucket refill unseen (bench_ratelimit) and add noise to short walls.
import aiohttp
import httpx
import openai
from _common import API_KEY, CHAT_PATH, Outcome, chat_body, run_async


def sequential_openai(base_url: str, n: int, concurrency: int = 1) -> Outcome:
    """(1) A plain loop with the sync ``openai.OpenAI`` client (no retries)."""
    client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=30)
    ok = 0
    t0 = time.perf_counter()
    for i in range(n):
        try:
            client.chat.completions.create(**chat_body(i))
            ok += 1
        except openai.OpenAIError:
            pass
    client.close()
    return Outcome("sequential OpenAI", n, ok, time.perf_counter() - t0, attempts=n)


def gather_openai(base_url: str, n: int, concurrency: int = 0, *, max_retries: int = 0) -> Outcome:
    """(2) Every request at once: ``asyncio.gather`` over ``AsyncOpenAI`` calls, no cap."""

    async def main() -> Outcome:
        t0 = time.perf_counter()
        client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=max_retries)

        async def one(i: int) -> bool:
            await client.chat.completions.create(**chat_body(i))
            return True

        results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        await client.close()
        ok = sum(r is True for r in results)
        attempts = n if max_retries == 0 else None  # else: counted by the simulator
        return Outcome("gather AsyncOpenAI", n, ok, time.perf_counter() - t0, attempts=attempts)

    return run_async(main)


def template_openai(
    base_url: str, n: int, concurrency: int, *, max_retries: int = 0, timeout: float = 30
) -> Outcome:
    """(3) The tutorial template: ``Semaphore`` + ``asyncio.wait_for`` + ``AsyncOpenAI``."""

    async def main() -> Outcome:
        t0 = time.perf_counter()
        client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=max_retries)
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> bool:
            async with sem:
                try:
                    await asyncio.wait_for(client.chat.completions.create(**chat_body(i)), timeout)
                    return True
                except (openai.OpenAIError, TimeoutError):
                    return False

        results = await asyncio.gather(*(one(i) for i in range(n)))
        await client.close()
        wall, note = time.perf_counter() - t0, f"SDK max_retries={max_retries}"
        attempts = n if max_retries == 0 else None  # else: counted by the simulator
        return Outcome("template AsyncOpenAI", n, sum(results), wall, attempts=attempts, note=note)

    return run_async(main)


def raw_aiohttp(base_url: str, n: int, concurrency: int, *, timeout: float = 30) -> Outcome:
    """(4) Minimal raw ``aiohttp`` + ``Semaphore`` posting the same JSON."""

    async def main() -> Outcome:
        t0 = time.perf_counter()
        url = base_url + CHAT_PATH.removeprefix("/v1")
        headers = {"Authorization": f"Bearer {API_KEY}"}
        sem = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        session = aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        )
        async with session:

            async def one(i: int) -> bool:
                async with sem:
                    try:
                        async with session.post(url, json=chat_body(i)) as resp:
                            await resp.json()
                            return resp.status == 200
                    except (aiohttp.ClientError, TimeoutError, ValueError):
                        return False

            results = await asyncio.gather(*(one(i) for i in range(n)))
        return Outcome("raw aiohttp", n, sum(results), time.perf_counter() - t0, attempts=n)

    return run_async(main)


def raw_httpx(base_url: str, n: int, concurrency: int) -> Outcome:
    """(5) Minimal raw ``httpx.AsyncClient`` + ``Semaphore`` posting the same JSON."""

    async def main() -> Outcome:
        t0 = time.perf_counter()
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        sem = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:
            url = base_url + CHAT_PATH.removeprefix("/v1")

            async def one(i: int) -> bool:
                async with sem:
                    try:
                        resp = await client.post(url, json=chat_body(i))
                        resp.json()
                        return resp.status_code == 200
                    except (httpx.HTTPError, ValueError):
                        return False

            results = await asyncio.gather(*(one(i) for i in range(n)))
        return Outcome("raw httpx", n, sum(results), time.perf_counter() - t0, attempts=n)

    return run_async(main)


BASELINES: dict[str, Callable[[str, int, int], Outcome]] = {
    "sequential": sequential_openai,
    "gather": gather_openai,
    "template": template_openai,
    "aiohttp": raw_aiohttp,
    "httpx": raw_httpx,
}


def baseline_subprocess(
    name: str, base_url: str, n: int, concurrency: int, *, rss_cap_mb: float = 2000
) -> Outcome:
    """Run one baseline in a child process (to sample its RSS); killed above ``rss_cap_mb``."""
    import psutil

    cmd = [sys.executable, str(Path(__file__)), name, base_url, str(n), str(concurrency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, capped = 0, False
    with contextlib.suppress(psutil.Error):
        child = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak = max(peak, child.memory_info().rss)
            if peak > rss_cap_mb * 2**20:
                proc.kill()
                capped = True
            time.sleep(0.05)
    out, err = proc.communicate()
    if capped:
        return Outcome(
            name,
            n,
            0,
            float("nan"),
            peak_rss_mb=peak / 2**20,
            note=f"killed above {rss_cap_mb:.0f} MB",
        )
    if proc.returncode != 0:
        sys.exit(f"baseline {name} failed:\n{err[-3000:]}")
    data = json.loads(out.strip().splitlines()[-1])
    return Outcome(**data, peak_rss_mb=peak / 2**20)


if __name__ == "__main__":
    # python benchmarks/_common.py BASELINE BASE_URL N CONCURRENCY -> one JSON outcome line
    _name, _url, _n, _c = sys.argv[1:5]
    _o = BASELINES[_name](_url, int(_n), int(_c))
    print(json.dumps({"name": _o.name, "n": _o.n, "ok": _o.ok, "wall": _o.wall, "note": _o.note}))

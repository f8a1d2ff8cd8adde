"""Resuming a huge output: how soon the first request goes out, and how much memory it takes.

    python benchmarks/bench_resume.py --n 1000000 [--new 100] [--small 10000]
        [--format text|batch] [--recorded surge|plain]

Builds (once, under ``benchmarks/_work/``) an input of N requests (``text``: one prompt a
line, ids derived from the content; ``batch``: Batch API lines with their own custom_ids)
and the output surge would have written for them: N result lines of ~650 bytes, each with
its fingerprint and input-line digest, made with surge's own request builder so they
match, a few hundred places out of input order as concurrent answers finish
(``--recorded nosource``: without the digests, as surge wrote before they existed, so every
input line is parsed and fingerprinted; ``--recorded plain``: Batch API output lines
without surge's metadata, which resume by custom_id and parse every input line). Then appends ``--new`` lines to the input and runs
``surge run`` on a copy of that output against a simulator in its own process, measuring:

* time to first request: process start until the simulator has received one request
  (the whole output is read back, checked and indexed, and every old input line skipped,
  before that), in wall seconds and in CPU seconds the process had used by then (the
  wall time on an idle core: the box a benchmark runs on is often shared);
* peak RSS of the ``surge run`` process and its children (psutil, every 50 ms: a big output
  is read by a child process);
* wall time to the end (the run also compacts nothing: every old line is current).

The same is measured resuming a ``--small``-line output, so "memory flat" reads as the
difference between the two rows. Target: first request within 5 s at 1,000,000 lines.
A last table compares the in-process size of the ledger's index with a ``set[str]`` of
the same custom_ids (what resume used to keep).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
from _common import WORK, base_parser, require_surge, sim, surge_cli_args

NEW_PROMPT = "a prompt added since the last run, number {}"
ANSWER = "[sim:000000000000] " + "lorem ipsum dolor sit amet " * 8


def _prompt(i: int) -> str:
    return f"resume benchmark prompt number {i}"


def _input_line(fmt: str, i: int, prompt: str) -> str:
    if fmt == "text":
        return prompt
    from _common import MODEL

    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
    line = {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
    return orjson.dumps(line).decode()


def build(n: int, fmt: str = "text", recorded: str = "surge") -> tuple[Path, Path]:
    """The input (n prompts) and the output a finished run over it would have written:
    lines a few hundred apart from input order, as concurrent answers finish. With
    ``recorded="plain"``, Batch API output lines without surge's metadata (resumed by
    custom_id alone, every input line parsed)."""
    import random

    from _common import MODEL

    from surge.config import RunOptions
    from surge.io.formats import RequestBuilder
    from surge.io.linedigest import line_digest, line_seed
    from surge.io.records import fingerprint
    from surge.models import Result

    WORK.mkdir(exist_ok=True)
    inp = WORK / f"resume-in-{fmt}-{n}.txt"
    out = WORK / f"resume-out-{fmt}-{recorded}-{n}.jsonl"
    if inp.exists() and out.exists():
        return inp, out
    options = RunOptions(model=MODEL)
    builder = RequestBuilder(options)
    seed = line_seed(options, text_mode=fmt == "text")
    assert seed is not None
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 60, "total_tokens": 72},
    }
    rng = random.Random(n)
    order = sorted(range(n), key=lambda i: i + rng.randint(0, 200))
    lines = [_input_line(fmt, i, _prompt(i)) for i in range(n)]
    with open(inp, "w") as fin:
        fin.writelines(line + "\n" for line in lines)
    with open(out, "wb") as fout:
        for i in order:
            line = lines[i]
            request = builder.from_line(line, line=i + 1, text_mode=fmt == "text")
            result = Result(
                custom_id=request.custom_id,
                line=i + 1,
                status_code=200,
                body=body,
                request_id=f"req_{i}",
                attempts=1,
                latency=0.2,
                fingerprint=fingerprint(request.url, request.body),
                source=line_digest((line + "\n").encode(), seed),
            )
            record = result.to_output()
            if recorded == "plain":
                del record["surge"]
            elif recorded == "nosource":
                del record["surge"]["source"]
            fout.write(orjson.dumps(record) + b"\n")
    return inp, out


def resume_once(  # type: ignore[valid-type]
    n: int, new: int, fmt: str, recorded: str, url: str, received: callable
) -> dict[str, float]:
    import psutil

    inp, out = build(n, fmt, recorded)
    run_in, run_out = WORK / f"resume-run-{n}.txt", WORK / f"resume-run-{n}.jsonl"
    shutil.copyfile(inp, run_in)
    with open(run_in, "a") as f:
        f.writelines(_input_line(fmt, n + i, NEW_PROMPT.format(i)) + "\n" for i in range(new))
    shutil.copyfile(out, run_out)
    size_mb = run_out.stat().st_size / 2**20
    before = received()
    cmd = surge_cli_args(run_in, run_out, url, 50)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    children: list[psutil.Process] = []
    first = first_cpu = None
    peak = 0
    ticks = 0
    while proc.poll() is None:
        try:
            # The output may be read by a child process: its memory counts too. Looking
            # for children walks /proc, so only every tenth tick (it would take CPU from
            # the run being measured, on a two-core box).
            if ticks % 10 == 0:
                children = ps.children()
            rss = ps.memory_info().rss + sum(_rss(child) for child in children)
            peak = max(peak, rss)
            cpu = ps.cpu_times()
        except psutil.Error:
            break
        ticks += 1
        if first is None and received() > before:
            first = time.perf_counter() - t0
            first_cpu = cpu.user + cpu.system
        time.sleep(0.05)
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"surge run failed ({proc.returncode}):\n{err[-2000:]}")
    sent = received() - before
    assert sent == new, f"expected {new} requests, the simulator got {sent}"
    run_in.unlink()
    run_out.unlink()
    return {
        "lines": n,
        "size_mb": size_mb,
        "first_s": first if first is not None else wall,
        "first_cpu_s": first_cpu if first_cpu is not None else float("nan"),
        "peak_mb": peak / 2**20,
        "wall_s": wall,
    }


def _rss(process: Any) -> int:
    try:
        return int(process.memory_info().rss)
    except Exception:  # gone meanwhile
        return 0


def index_sizes(n: int) -> tuple[float, float]:
    """MB held by a set[str] of n custom_ids vs the ledger's digest map."""
    from surge.io.digests import DigestMap, id_digest
    from surge.io.formats import content_id

    ids = [content_id(_prompt(i)) for i in range(n)]
    tracemalloc.start()
    strings = {str(cid.encode().decode()) for cid in ids}  # fresh string objects
    set_mb = tracemalloc.get_traced_memory()[0] / 2**20
    del strings
    tracemalloc.stop()
    tracemalloc.start()
    table = DigestMap(n)
    for cid in ids:
        table[id_digest(cid)] = 1
    map_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    return set_mb, map_mb


def main() -> None:
    parser = base_parser(__doc__ or "", n=1_000_000, concurrency=50)
    parser.add_argument("--new", type=int, default=100, help="prompts added before resuming")
    parser.add_argument("--small", type=int, default=10_000, help="size of the small resume")
    parser.add_argument(
        "--format", choices=("text", "batch"), default="text", help="the input's format"
    )
    parser.add_argument(
        "--recorded",
        choices=("surge", "nosource", "plain"),
        default="surge",
        help="output lines as surge writes them, without input-line digests (as surge "
        "wrote them before), or plain Batch API output lines",
    )
    args = parser.parse_args()
    require_surge()
    rows = []
    with sim("--latency", "0", "--no-log") as server:

        def received() -> int:
            return int(server.stats()["received"])

        for n in (args.small, args.n):
            rows.append(resume_once(n, args.new, args.format, args.recorded, server.url, received))
    print(
        f"\nResuming a {args.recorded} output with {args.new} new lines in the "
        f"{args.format} input (C=50)\n"
    )
    # CPU seconds used by then: what the wall time would be on an idle core (the box the
    # benchmark runs on may be shared).
    print("| output lines | output MB | first request s | (CPU s) | peak RSS MB | wall s |")
    print("|-------------:|----------:|----------------:|--------:|------------:|-------:|")
    for r in rows:
        print(
            f"| {r['lines']:,} | {r['size_mb']:,.0f} | {r['first_s']:.2f} | "
            f"{r['first_cpu_s']:.2f} | {r['peak_mb']:.0f} | {r['wall_s']:.2f} |"
        )
    big = rows[-1]
    print(
        f"\nfirst request after {big['first_s']:.2f} s (target < 5 s); RSS "
        f"+{big['peak_mb'] - rows[0]['peak_mb']:.0f} MB over the {args.small:,}-line resume"
    )
    set_mb, map_mb = index_sizes(args.n)
    print(f"index of {args.n:,} custom_ids: set[str] {set_mb:.0f} MB, DigestMap {map_mb:.0f} MB")


if __name__ == "__main__":
    main()

"""What a resume costs per line, in-process: reading the output back, and skipping an input line.

    python benchmarks/bench_skip.py [--n 200000] [--repeat 5]

Uses the files ``bench_resume.py`` builds (a text input of N prompts and the output that
answers every one of them), then measures in CPU seconds (the box is often shared, and
CPU time varies less than wall time under load), best of ``--repeat``:

* read-back: ``JsonlStore.open()`` on a copy of the output (the ledger built on it: the
  search for superseding lines; the entries themselves are read as the input asks);
* a whole resume: ``Engine.run`` over the input into that output, on uvloop when installed;
  nothing is sent (every line is answered);
* skipping: the difference, per input line (the line recognized by its digest, or read,
  made into a request, fingerprinted and looked up; counted as skipped).

Only this process's CPU counts: an output over 16 MB is parsed by a child process
(``surge.io.entry_scan``), whose time ``bench_resume.py`` shows as wall time instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import time

from _common import MODEL, USE_UVLOOP, WORK
from bench_resume import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000, help="input lines (default 200000)")
    parser.add_argument("--repeat", type=int, default=5, help="keep the best of R runs each")
    args = parser.parse_args()

    from surge._engine.engine import Engine, EngineSettings
    from surge.config import Endpoint, RunOptions
    from surge.io.formats import RequestBuilder
    from surge.io.source import read_lines
    from surge.io.store import JsonlStore

    loop_factory = None
    if USE_UVLOOP:
        with contextlib.suppress(ImportError):
            import uvloop

            loop_factory = uvloop.new_event_loop

    inp, out = build(args.n)
    copy = WORK / f"skip-out-{args.n}.jsonl"
    options = RunOptions(model=MODEL)
    # Never contacted: every line is answered, so nothing is sent.
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1", api_key="sk-test")

    def read_back() -> float:
        store = JsonlStore(copy)
        start = time.process_time()
        store.open()
        took = time.process_time() - start
        store.close()
        return took

    async def resume() -> float:
        engine = Engine(EngineSettings(endpoint=endpoint, options=options))
        source = read_lines(inp, RequestBuilder(options))
        start = time.process_time()  # from here: read back, skip every line, close
        stats = await engine.run(source, JsonlStore(copy))
        took = time.process_time() - start
        assert stats.skipped == args.n, stats
        return took

    back = whole = float("inf")
    for _ in range(args.repeat):
        shutil.copyfile(out, copy)
        back = min(back, read_back())
        shutil.copyfile(out, copy)
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            whole = min(whole, runner.run(resume()))
    copy.unlink()
    per = 1e6 / args.n
    print(
        f"{args.n:,} lines, CPU µs per line (best of {args.repeat}): read-back {back * per:.2f}, "
        f"whole resume {whole * per:.2f}, skipping an input line {(whole - back) * per:.2f}"
    )


if __name__ == "__main__":
    main()

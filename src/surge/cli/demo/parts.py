"""The three parts of ``surge demo``, as methods of one :class:`Demo` object.

    async with open_target(None, None, SimSettings(), model="gpt-4.1-mini") as target:
        demo = Demo(target, model="gpt-4.1-mini")
        await demo.sentiment(sequential=True)      # (a) five prompts, one at a time vs all
        await demo.digest(n=1000, concurrency=200, workdir=Path(tmp))   # (b) the engine
        await demo.travel("Lisbon")                # (c) fan-out, then fan-in

Every number printed is measured while the demo runs; see :mod:`surge.cli.demo.command`.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import click
import orjson

from ...api import amap, as_completed, run_file
from ...config import Limits
from ...events import Event, RequestFinished, RequestRetrying, RequestStarted, RunStats
from ...io.store import read_results
from ...models import Result
from ..progress import Mode, ProgressDisplay
from ..summary import format_summary
from .common import Target, seconds, speedup
from .data import (
    TEXT_MESSAGES,
    TRAVEL_SYSTEM,
    arxiv_lines,
    chat_request,
    sentiment_requests,
    synthesis_request,
    travel_questions,
)

__all__ = ["Demo"]

echo = click.echo


def _header(title: str) -> None:
    echo("")
    echo(click.style(title, bold=True))


def _failure(result: Result) -> str:
    error = result.error
    return f"FAILED ({error.code}: {error.message})" if error is not None else "FAILED"


def _sentiment_answer(result: Result) -> str:
    if not result.ok:
        return _failure(result)
    try:
        parsed = orjson.loads(result.text or "")
        return f"{parsed['sentiment']:<8} score {float(parsed['score']):+.2f}"
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return repr((result.text or "")[:60])  # a model that ignored the schema


class Demo:
    """The three parts, run against one target; counts failed requests as it goes.

    demo = Demo(target, model="gpt-4.1-mini")
    await demo.sentiment(sequential=True)
    await demo.digest(n=1000, concurrency=200, workdir=Path("/tmp/x"))
    await demo.travel("Lisbon")
    """

    def __init__(self, target: Target, *, model: str, quiet: bool = False) -> None:
        self.target = target
        self.model = model
        self.quiet = quiet
        self.failed = 0

    # -- (a) five sentiment prompts, one at a time and then all at once --------------------

    async def sentiment(self, *, sequential: bool = True) -> None:
        n = len(TEXT_MESSAGES)
        _header(f"(a) {n} sentiment prompts with structured output: one at a time vs all at once")
        if self.target.simulator is not None:
            echo("    (the simulator's answers are schema-valid but made up)")
        one_by_one = None
        if sequential:
            echo("one at a time (each request waits for the previous answer):")
            one_by_one = await self._sentiment_run(concurrency=1)
        echo(f"all at once with surge ({n} in flight; answers arrive in any order):")
        together = await self._sentiment_run(concurrency=n)
        if one_by_one is not None:
            echo(
                f"sequential {seconds(one_by_one)}, concurrent {seconds(together)}: "
                f"{speedup(one_by_one, together)} faster"
            )
        else:
            echo(f"concurrent {seconds(together)} (sequential run skipped)")

    async def _sentiment_run(self, *, concurrency: int) -> float:
        started = time.perf_counter()
        async for result in as_completed(
            sentiment_requests(self.model),
            endpoint=self.target.endpoint,
            limits=Limits(concurrency=concurrency),
        ):
            self.failed += not result.ok
            if not self.quiet:
                index = int(result.custom_id.rsplit("-", 1)[1])
                echo(
                    f"  +{time.perf_counter() - started:5.2f} s  #{index} "
                    f"{TEXT_MESSAGES[index - 1]:<36} -> {_sentiment_answer(result)}"
                )
        return time.perf_counter() - started

    # -- (b) an arXiv digest through the whole engine -----------------------------------------

    async def digest(
        self,
        *,
        n: int,
        concurrency: int,
        workdir: Path,
        progress: Mode = "auto",
        sim_errors: float = 0.0,
    ) -> RunStats:
        _header(f"(b) an arXiv digest: {n:,} classification requests through the full engine")
        input_path = workdir / "arxiv_requests.jsonl"
        output = workdir / "arxiv_results.jsonl"
        lines = arxiv_lines(n, model=self.model)
        input_path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
        output.unlink(missing_ok=True)  # an old output would turn this into a resumed run
        echo(f"{n:,} Batch API request lines in {input_path}, concurrency {concurrency}")
        sim = self.target.simulator
        if sim is not None:
            sim.reset_stats()
            if sim_errors:
                sim.update_config(error_503=sim_errors)
                echo(f"the simulator now fails {sim_errors:.0%} of attempts with HTTP 503")
        stats = RunStats(total=n)
        display = ProgressDisplay(
            stats, mode="none" if self.quiet else progress, interval=1.0, label="arxiv digest"
        )
        display.start()
        try:
            await run_file(
                input_path,
                output,
                endpoint=self.target.endpoint,
                limits=Limits(concurrency=concurrency),
                stats=stats,
            )
        finally:
            display.stop()
            if sim is not None and sim_errors:
                sim.update_config(error_503=0.0)
        self.failed += stats.failed + stats.invalid
        echo(format_summary(stats, output=str(output)))
        if len(stats.latencies):
            mean = stats.latencies.mean
            alone = n * mean
            echo(
                f"one at a time this would take ~{seconds(alone)} ({n:,} x {mean:.2f} s "
                f"mean latency); surge took {seconds(stats.elapsed)}: "
                f"{speedup(alone, stats.elapsed)} faster"
            )
        for _, result in zip(range(3), read_results(output), strict=False):
            answer = (result.text or "").replace("\n", " ") if result.ok else _failure(result)
            echo(f"  {result.custom_id}: {textwrap.shorten(answer, 72)}")
        if sim is not None:
            seen = sim.stats(log=False)
            statuses = ", ".join(f"HTTP {k} x {v:,}" for k, v in seen["by_status"].items())
            echo(
                f"the simulator received {seen['received']:,} requests ({statuses}), "
                f"at most {seen['max_in_flight']} at once"
            )
        return stats

    # -- (c) fan-out / fan-in: a travel guide -------------------------------------------------

    async def travel(self, city: str) -> None:
        questions = travel_questions(city)
        _header(f"(c) fan-out/fan-in: {len(questions)} research questions at once, then a guide")
        requests = [
            chat_request(f"q{i}", q, model=self.model, system=TRAVEL_SYSTEM, max_tokens=150)
            for i, q in enumerate(questions, start=1)
        ]
        asked = {r.custom_id: r.body["messages"][-1]["content"] for r in requests}
        started = time.perf_counter()

        def show(event: Event) -> None:
            t = f"  +{time.perf_counter() - started:5.2f} s"
            if isinstance(event, RequestStarted) and event.attempt == 1:
                echo(f"{t}  asking    {asked[event.custom_id]}")
            elif isinstance(event, RequestRetrying):
                echo(f"{t}  retrying  {event.custom_id} ({event.reason})")
            elif isinstance(event, RequestFinished):
                r = event.result
                verdict = "answered " if r.ok else "failed   "
                echo(f"{t}  {verdict} {asked[r.custom_id]} ({seconds(r.latency or 0.0)})")

        results = await amap(
            requests,
            endpoint=self.target.endpoint,
            limits=Limits(concurrency=len(requests)),
            on_event=None if self.quiet else show,
        )
        fan_out = time.perf_counter() - started
        self.failed += sum(not r.ok for r in results)
        one_by_one = sum(r.latency or 0.0 for r in results)
        echo(
            f"parallel phase {seconds(fan_out)} vs {seconds(one_by_one)} one after another "
            f"(sum of the {len(results)} latencies): {speedup(one_by_one, fan_out)} faster"
        )
        answers = [(asked[r.custom_id], r.text or "") for r in results if r.ok]
        if not answers:
            echo("no research answers, so no guide")
            return
        started = time.perf_counter()
        [guide] = await amap(
            [synthesis_request(city, answers, model=self.model)], endpoint=self.target.endpoint
        )
        fan_in = time.perf_counter() - started
        self.failed += not guide.ok
        echo(f"travel guide for {city} (one synthesis call over the answers, {seconds(fan_in)}):")
        text = (guide.text or "") if guide.ok else _failure(guide)
        for paragraph in text.splitlines() or [""]:
            echo(textwrap.fill(paragraph, 88, initial_indent="  ", subsequent_indent="  "))
        echo(f"workflow total {seconds(fan_out + fan_in)}")

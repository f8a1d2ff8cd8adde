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

from ...api import as_completed, run_file
from ...config import Limits, RunOptions
from ...errors import RequestError
from ...events import RunStats
from ...io.store import read_results
from ...models import Result
from ...workflows import fanout
from ..fanout_display import FanoutDisplay
from ..progress import Mode, ProgressDisplay
from ..summary import format_summary
from .common import Target, seconds, speedup
from .data import (
    GUIDE_SYSTEM,
    TEXT_MESSAGES,
    TRAVEL_SYSTEM,
    Sentiment,
    arxiv_lines,
    guide_instruction,
    sentiment_requests,
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
    if not isinstance(result.parsed, Sentiment):
        return _failure(result)  # includes a reply that never matched the schema
    return f"{result.parsed.sentiment:<8} score {result.parsed.score:+.2f}"


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
            schema=Sentiment,  # sent as a strict json_schema; every reply validated
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
        display = None if self.quiet else FanoutDisplay(questions, echo=echo)
        try:
            guide = await fanout(
                questions,
                synthesize=guide_instruction(city),
                system=TRAVEL_SYSTEM,
                synthesis_system=GUIDE_SYSTEM,
                endpoint=self.target.endpoint,
                options=RunOptions(model=self.model, params=(("max_tokens", 300),)),
                on_event=display,
            )
        except RequestError as err:
            self.failed += len(questions)
            echo(f"no research answers, so no guide ({err})")
            return
        self.failed += len(guide.missing) + (not guide.ok)
        one_by_one = sum(a.latency or 0.0 for a in guide.answers)
        echo(
            f"parallel phase {seconds(guide.fan_out_seconds)} vs {seconds(one_by_one)} one "
            f"after another (sum of the {len(guide.answers)} latencies): "
            f"{speedup(one_by_one, guide.fan_out_seconds)} faster"
        )
        echo(
            f"travel guide for {city} (one synthesis call over the answers, "
            f"{seconds(guide.synthesis_seconds)}):"
        )
        text = (guide.text or "") if guide.ok else _failure(guide.synthesis)
        for paragraph in text.splitlines() or [""]:
            echo(textwrap.fill(paragraph, 88, initial_indent="  ", subsequent_indent="  "))
        echo(f"workflow total {seconds(guide.fan_out_seconds + guide.synthesis_seconds)}")

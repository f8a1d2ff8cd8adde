"""Resume by what was sent, not by custom_id alone: edited requests are sent again and
supersede their old answers; unchanged ones are not sent; ids of lines without one do not
shift. "Not sent" is proved by the simulator's per-request log."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

import surge
from surge.io.formats import content_id
from surge_sim import Simulator, prompt_digest

from .helpers import (
    answer_digest,
    by_id,
    chat_line,
    cli_process,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    wait_for_lines,
    write_jsonl,
    write_lines,
)


def sent_ids(sim: Simulator) -> Counter[str]:
    """custom_id -> how many attempts reached the server since the last reset."""
    return Counter(e["client_request_id"] for e in sim.stats()["requests"])


def test_edited_prompt_model_and_param_are_sent_again_nothing_else(
    sim: Simulator, tmp_path: Path
) -> None:
    lines = [chat_line(cid, f"question {cid}") for cid in "abcdef"]
    src = write_jsonl(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, "--base-url", sim.base_url, "--progress", "none"]
    assert run_cli(*args).returncode == 0
    before = by_id(read_output(out))

    lines[1] = chat_line("b", "an edited question")  # the prompt
    lines[2] = chat_line("c", "question c", model="gpt-4.1-mini")  # the model
    lines[3]["body"]["temperature"] = 0.5  # a parameter
    write_jsonl(src, lines)
    sim.reset_stats()
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr

    assert sent_ids(sim) == Counter({"b": 1, "c": 1, "d": 1})
    after_lines = read_output(out)
    after = by_id(after_lines)  # one line per custom_id: no stale answer left
    assert len(after_lines) == 6
    assert answer_digest(after["b"]) == prompt_digest("an edited question")
    assert after["c"]["response"]["body"]["model"] == "gpt-4.1-mini"
    assert after["d"]["id"] != before["d"]["id"]
    for cid in "aef":
        assert after[cid] == before[cid]  # untouched, byte for byte
    assert "3 re-sent because they changed" in again.stderr

    sim.reset_stats()
    assert run_cli(*args).returncode == 0
    assert sent_ids(sim) == Counter()  # now everything is current


def test_run_options_count_as_changes_unless_keep_stale(sim: Simulator, tmp_path: Path) -> None:
    prompts = [f"option prompt {i}" for i in range(5)]
    src = write_lines(tmp_path / "in.txt", prompts)
    out = tmp_path / "out.jsonl"
    assert run_cli(src, "-o", out, *sim_args(sim)).returncode == 0

    sim.reset_stats()
    kept = run_cli(src, "-o", out, *sim_args(sim, "--param", "temperature=0", "--keep-stale"))
    assert kept.returncode == 0, kept.stderr
    assert sent_ids(sim) == Counter()  # the old answers are kept, as asked

    sim.reset_stats()
    changed = run_cli(src, "-o", out, *sim_args(sim, "--param", "temperature=0"))
    assert changed.returncode == 0, changed.stderr
    assert sorted(sent_ids(sim)) == sorted(content_id(p) for p in prompts)
    assert len(read_output(out)) == 5

    sim.reset_stats()
    system = run_cli(src, "-o", out, *sim_args(sim, "--param", "temperature=0", "--system", "S"))
    assert system.returncode == 0
    assert sum(sent_ids(sim).values()) == 5
    assert len(by_id(read_output(out))) == 5


def test_inserting_a_line_in_a_text_input_sends_only_that_line(
    sim: Simulator, tmp_path: Path
) -> None:
    prompts = [f"text line {i}" for i in range(1, 41)]
    src = write_lines(tmp_path / "in.txt", prompts)
    out = tmp_path / "out.jsonl"
    assert run_cli(src, "-o", out, *sim_args(sim)).returncode == 0

    edited = [*prompts[:9], "a brand new line", *prompts[9:], prompts[0]]  # and a repeat
    write_lines(src, edited)
    sim.reset_stats()
    again = run_cli(src, "-o", out, *sim_args(sim))
    assert again.returncode == 0, again.stderr
    assert sent_ids(sim) == Counter(
        {content_id("a brand new line"): 1, content_id(prompts[0]) + "-2": 1}
    )
    records = by_id(read_output(out))
    assert len(records) == 42
    new = records[content_id("a brand new line")]
    assert new["surge"]["line"] == 10
    assert answer_digest(new) == prompt_digest("a brand new line")
    assert records[content_id(prompts[0]) + "-2"]["surge"]["line"] == 42

    # Removing a line drops its answer (it answers nothing asked any more).
    write_lines(src, prompts[1:])
    sim.reset_stats()
    removed = run_cli(src, "-o", out, *sim_args(sim))
    assert removed.returncode == 0
    assert sent_ids(sim) == Counter()
    assert set(by_id(read_output(out))) == {content_id(p) for p in prompts[1:]}
    assert "stale answers removed" in removed.stderr


def test_sigkill_while_resending_changed_requests_pays_each_once(
    sim_factory, tmp_path: Path
) -> None:
    sim = sim_factory(latency=0.05)
    prompts = [f"crash prompt {i}" for i in range(150)]
    src = write_lines(tmp_path / "in.txt", prompts)
    out = tmp_path / "out.jsonl"
    assert run_cli(src, "-o", out, *sim_args(sim, "-c", "20")).returncode == 0
    old = by_id(read_output(out))

    sim.reset_stats()
    args = [src, "-o", out, *sim_args(sim, "-c", "20", "--param", "temperature=0")]
    with cli_process(*args) as drain:
        wait_for_lines(out, 150 + 40, drain.proc)
        drain.proc.send_signal(signal.SIGKILL)
        drain.wait(timeout=10)
    # Between runs the file may hold two lines for an id; the last one is current.
    rewritten = {r["custom_id"] for r in read_output(out)[150:]}
    assert len(rewritten) >= 40

    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    final = by_id(read_output(out))
    assert set(final) == set(old)
    answered = Counter(
        e["client_request_id"] for e in sim.stats()["requests"] if e["status"] == 200
    )
    assert set(answered) == set(old)
    paid_twice = [cid for cid in rewritten if answered[cid] != 1]
    assert paid_twice == []
    assert all(final[cid]["id"] != old[cid]["id"] and is_ok(final[cid]) for cid in final)


async def test_amap_with_output_returns_exactly_what_was_asked(
    sim: Simulator, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    common = {"endpoint": sim.base_url, "model": "gpt-4o-mini", "output": out}
    await surge.amap(["one", "two", "three"], **common)
    results = await surge.amap(["three", "one"], **common)
    assert [r.custom_id for r in results] == [content_id("three"), content_id("one")]
    assert [r.text[:18] for r in results if r.text] == [
        f"[sim:{prompt_digest('three')}]",
        f"[sim:{prompt_digest('one')}]",
    ]
    assert sim.stats(log=False)["received"] == 3  # both came from the file
    with_dup = await surge.amap(["one", "one", "four"], **common)
    assert [r.custom_id for r in with_dup] == [
        content_id("one"),
        content_id("one") + "-2",
        content_id("four"),
    ]
    assert all(r.ok for r in with_dup)


@pytest.mark.parametrize("retry_hint", [False, True])
def test_retry_failed_is_suggested_only_when_it_could_help(
    sim_factory, tmp_path: Path, retry_hint: bool
) -> None:
    sim = sim_factory(error_500=1.0 if retry_hint else 0.0)
    src = write_lines(tmp_path / "in.txt", [f"p{i}" for i in range(4)])
    out = tmp_path / "out.jsonl"
    # temperature=7 is out of range: a 400 for everyone, which no retry can fix.
    extra = ["--max-retries", "0"] if retry_hint else ["--param", "temperature=7"]
    proc = run_cli(src, "-o", out, *sim_args(sim, *extra))
    assert proc.returncode == 1
    records = read_output(out)
    kinds = {r["surge"]["failure"] for r in records}
    assert kinds == ({"transient"} if retry_hint else {"permanent"})
    assert ("--retry-failed" in proc.stderr) is retry_hint
    if not retry_hint:
        assert sim.stats(log=False)["received"] == 4  # each tried once, never retried
        assert "4 permanent" in proc.stderr

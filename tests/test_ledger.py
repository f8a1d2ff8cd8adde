"""The resume decision as a table: send, skip, re-send a changed request, unique ids."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from surge.errors import InputError
from surge.events import RunStats
from surge.io.digests import DigestMap, DigestSet, id_digest
from surge.io.ledger import Ledger, Skip
from surge.io.records import (
    FAILED,
    RECORDED,
    TRANSIENT,
    UNSENT,
    fingerprint,
    fingerprint_bits,
    read_entry,
)
from surge.models import ErrorInfo, Request, Result

URL = "/v1/chat/completions"


def req(custom_id: str, content: str = "q", model: str = "m", **params: object) -> Request:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **params}
    return Request(custom_id=custom_id, body=body, url=URL)


def holding(*entries: tuple[Request, int]) -> DigestMap:
    """An output that answered each request (with flag bits)."""
    done = DigestMap()
    for request, flags in entries:
        done[id_digest(request.custom_id)] = (
            fingerprint_bits(fingerprint(request.url, request.body)) | flags | RECORDED
        )
    return done


def test_fingerprint_is_canonical_and_sees_every_change() -> None:
    a = fingerprint(URL, {"model": "m", "temperature": 0, "messages": []})
    assert a == fingerprint(URL, {"messages": [], "temperature": 0, "model": "m"})
    assert len(a) == 16 and int(a, 16) >= 0
    others = {
        fingerprint(URL, {"model": "m2", "temperature": 0, "messages": []}),
        fingerprint(URL, {"model": "m", "temperature": 1, "messages": []}),
        fingerprint(URL, {"model": "m", "temperature": 0, "messages": [{"x": 1}]}),
        fingerprint("/v1/responses", {"model": "m", "temperature": 0, "messages": []}),
    }
    assert a not in others and len(others) == 4


def test_unchanged_is_skipped_changed_is_resent_and_counted() -> None:
    stats = RunStats()
    ledger = Ledger(holding((req("a"), 0), (req("b"), 0), (req("c"), 0)))
    ledger.attach(stats)
    assert isinstance(ledger.admit(req("a")), Skip)
    changed = [req("b", "edited"), req("c", model="other")]
    assert all(isinstance(ledger.admit(r), Request) for r in changed)
    assert isinstance(ledger.admit(req("new")), Request)
    assert stats.resent_changed == 2
    assert ledger.stale == 0


def test_keep_stale_matches_by_id_alone() -> None:
    ledger = Ledger(holding((req("a"), 0)), keep_stale=True)
    assert isinstance(ledger.admit(req("a", "edited")), Skip)


def test_recorded_failures_are_skipped_unless_retry_failed() -> None:
    stats = RunStats()
    entries = ((req("t"), FAILED | TRANSIENT), (req("p"), FAILED))
    ledger = Ledger(holding(*entries))
    ledger.attach(stats)
    assert ledger.admit(req("t")) == Skip("t", failed=True, transient=True)
    assert ledger.admit(req("p")) == Skip("p", failed=True, transient=False)
    assert stats.skipped_failed_transient == 1
    retry = Ledger(holding(*entries), retry_failed=True)
    assert isinstance(retry.admit(req("t")), Request)
    assert isinstance(retry.admit(req("p")), Request)


def test_a_line_without_fingerprint_is_matched_by_id_and_an_unsent_one_is_sent() -> None:
    done = DigestMap()
    done[id_digest("legacy")] = RECORDED  # older surge or Batch API output: no fingerprint
    done[id_digest("bad")] = UNSENT | FAILED | RECORDED  # an invalid line, since fixed
    ledger = Ledger(done)
    assert isinstance(ledger.admit(req("legacy", "anything")), Skip)
    assert isinstance(ledger.admit(req("bad")), Request)


def test_duplicate_ids_become_unique_error_lines() -> None:
    ledger = Ledger()
    assert isinstance(ledger.admit(req("a")), Request)
    dup = ledger.admit(req("a", "other"))
    assert isinstance(dup, Result) and dup.custom_id == "a#2" and dup.line_error
    assert "duplicate custom_id 'a'" in (dup.error or ErrorInfo("", "")).message
    third = ledger.admit(req("a", "third"))
    assert isinstance(third, Result) and third.custom_id == "a#3"


def test_invalid_lines_keep_their_id_made_unique_only_on_collision() -> None:
    ledger = Ledger()
    ledger.admit(req("a"))
    first = ledger.admit(InputError("bad", line=2, custom_id="b"))
    clash = ledger.admit(InputError("bad", line=3, custom_id="a"))
    nameless = ledger.admit(InputError("bad", line=4))
    ids = [r.custom_id for r in (first, clash, nameless)]
    assert ids == ["b", "a#2", "line-4"]


def test_content_ids_count_occurrences() -> None:
    ledger = Ledger()
    ids = []
    for _ in range(3):
        r = req("t-abc")
        r.content_id = True
        admitted = ledger.admit(r)
        assert isinstance(admitted, Request)
        ids.append(admitted.custom_id)
    assert ids == ["t-abc", "t-abc-2", "t-abc-3"]


def test_stale_counts_recorded_ids_missing_from_the_input() -> None:
    ledger = Ledger(holding((req("a"), 0), (req("b"), 0), (req("c"), 0)))
    ledger.admit(req("a"))
    ledger.admit(req("a"))  # a duplicate does not count twice
    assert ledger.stale == 2


def test_order_is_remembered_for_library_calls() -> None:
    ledger = Ledger(holding((req("a"), 0)), remember_order=True)
    for item in (req("b"), req("a"), req("b"), InputError("x", line=9)):
        ledger.admit(item)
    assert ledger.order == ["b", "a", "b#2", "line-9"]


def test_read_entry_fast_and_full_paths_agree() -> None:
    import orjson

    sent = req("x")
    sent.fingerprint = fingerprint(sent.url, sent.body)
    results = [
        Result(custom_id="x", status_code=200, body={"a": 1}, fingerprint=sent.fingerprint),
        Result(custom_id='q"uote\\', status_code=503, error=ErrorInfo("http_503", "x")),
        Result(custom_id="bad", error=ErrorInfo("invalid_input", "x"), line_error=True),
    ]
    for result in results:
        raw = orjson.dumps(result.to_output())
        fast = read_entry(raw + b"\n")
        # Spaces after separators (as Python's json writes) take the full parse.
        full = read_entry(json.dumps(orjson.loads(raw)).encode())
        assert fast is not None and full is not None
        assert fast[0] == full[0] == id_digest(result.custom_id)
        assert fast == full  # the same entry either way
    assert read_entry(b"{junk") is None
    assert read_entry(b'{"custom_id": "a"}') is None


@given(st.lists(st.integers(min_value=1, max_value=(1 << 64) - 1), max_size=3000))
def test_digest_tables_behave_like_set_and_dict(keys: list[int]) -> None:
    table, reference = DigestMap(), {}
    seen, ref_set = DigestSet(), set()
    for i, key in enumerate(keys):
        table[key] = i
        reference[key] = i
        assert seen.add(key) is (key not in ref_set)
        ref_set.add(key)
    assert len(table) == len(reference) and len(seen) == len(ref_set)
    for key, value in reference.items():
        assert table.get(key) == value and key in seen
    assert sorted(seen) == sorted(ref_set)
    assert table.get(12345678901234567) == reference.get(12345678901234567)


def test_an_unsendable_request_recorded_as_unsendable_is_recorded_again() -> None:
    from surge.io.records import UNSENT as unsent

    done = DigestMap()
    done[id_digest("bad")] = unsent | RECORDED  # recorded as never sent
    ledger = Ledger(done)
    bad = Request(custom_id="bad", body={"x": {1, 2}}, url=URL)  # a set: no JSON for it
    assert not isinstance(ledger.admit(bad), Skip)

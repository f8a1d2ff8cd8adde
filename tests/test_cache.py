"""The response cache: canonical keys, a SQLite store shared by processes, the cache step."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from surge._engine.attempt import Attempt, Outcome, compose
from surge._engine.caching import CacheStep
from surge.cache.keys import cache_key
from surge.cache.sqlite import SqliteCache
from surge.models import Request

URL = "http://127.0.0.1:8000/v1/chat/completions"


def test_key_ignores_key_order_but_not_content():
    a = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    b = {"temperature": 0, "messages": [{"content": "hi", "role": "user"}], "model": "m"}
    assert cache_key(URL, a) == cache_key(URL, b)
    assert cache_key(URL, a) == cache_key(URL + "/", a)
    assert cache_key(URL, a) != cache_key(URL, {**a, "temperature": 1})
    assert cache_key(URL, a) != cache_key("http://other/v1/chat/completions", a)
    assert cache_key(URL, a) != cache_key(URL.replace("chat/completions", "responses"), a)


def test_store_get_put_and_first_writer_wins(tmp_path: Path):
    cache = SqliteCache(tmp_path / "c.sqlite")
    assert cache.get("k") is None
    cache.put("k", {"answer": 1})
    cache.put("k", {"answer": 2})
    assert cache.get("k") == {"answer": 1}
    assert len(cache) == 1 and cache.hits == 1 and cache.misses == 1
    cache.close()
    assert SqliteCache(tmp_path / "c.sqlite").get("k") == {"answer": 1}  # persisted


def _writer(path: str, start: int) -> None:
    cache = SqliteCache(path)
    for i in range(start, start + 300):
        cache.put(f"k{i % 400}", {"i": i})
    cache.close()


def test_several_processes_write_at_once(tmp_path: Path):
    path = str(tmp_path / "shared.sqlite")
    SqliteCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, n * 100)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = SqliteCache(path)
    assert len(cache) == 400
    assert all(cache.get(f"k{i}") is not None for i in range(400))


async def test_cache_step_answers_hits_and_stores_successes(tmp_path: Path):
    cache = SqliteCache(tmp_path / "c.sqlite")
    sent: list[str] = []

    async def sender(attempt: Attempt) -> Outcome:
        sent.append(attempt.request.custom_id)
        attempt.status = 200
        attempt.data = {"answer": attempt.body["q"]}
        return Outcome.ok() if attempt.body["q"] != "bad" else Outcome("fail")

    chain = compose([CacheStep(cache, url_for=lambda path: "http://x" + path)], sender)

    async def one(custom_id: str, q: str) -> Attempt:
        request = Request(custom_id=custom_id, body={"model": "m", "q": q})
        attempt = Attempt(request, 1, request.body)
        await chain(attempt)
        return attempt

    first = await one("a", "1")
    again = await one("b", "1")
    assert not first.cached and again.cached and again.data == {"answer": "1"}
    assert again.cost == 0.0
    await one("c", "bad")
    await one("d", "bad")  # failures are not cached: sent again
    assert sent == ["a", "c", "d"]

"""The simulator's Batch API over HTTP: files, batch life cycle, validation, expiry, cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest

from surge_sim import Simulator
from surge_sim.batch_input import check_input

FAST = {"batch_time_scale": 0.001, "batch_requests_per_second": 50_000.0}


def line(custom_id: str, text: str = "hi", *, model: str = "gpt-4o-mini", **body: Any) -> bytes:
    return orjson.dumps(
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}], **body},
        }
    )


def jsonl(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


class Api:
    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.base = sim.base_url
        self.session = session

    async def upload(self, data: bytes, filename: str = "in.jsonl") -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", data, filename=filename)
        async with self.session.post(self.base + "/files", data=form) as resp:
            return resp.status, await resp.json()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body) as resp:
            return resp.status, await resp.json()

    async def create(self, file_id: str, endpoint: str = "/v1/chat/completions") -> Any:
        status, batch = await self.call(
            "POST",
            "/batches",
            {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"},
        )
        assert status == 200, batch
        return batch

    async def wait(self, batch_id: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, batch = await self.call("GET", f"/batches/{batch_id}")
            if batch["status"] in ("completed", "failed", "expired", "cancelled"):
                return batch
            await asyncio.sleep(0.02)
        raise AssertionError(f"batch {batch_id} did not finish")

    async def lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if file_id is None:
            return []
        async with self.session.get(f"{self.base}/files/{file_id}/content") as resp:
            assert resp.status == 200
            return [orjson.loads(x) for x in (await resp.read()).splitlines()]


async def _with_api(sim: Simulator, fn: Callable[[Api], Any]) -> Any:
    async with aiohttp.ClientSession() as session:
        return await fn(Api(sim, session))


async def test_batch_completes_with_unordered_output_and_per_line_status(sim_factory):
    sim = sim_factory(**FAST)
    data = [line(f"r{i}", f"question {i}", max_tokens=5) for i in range(300)]
    data.append(line("bad", "x", temperature=7))  # a 400 for this request alone

    async def go(api: Api) -> None:
        status, f = await api.upload(jsonl(data))
        assert status == 200 and f["purpose"] == "batch" and f["bytes"] == len(jsonl(data))
        batch = await api.create(f["id"])
        assert batch["status"] == "validating" and batch["completion_window"] == "24h"
        batch = await api.wait(batch["id"])
        assert batch["status"] == "completed"
        assert batch["request_counts"] == {"total": 301, "completed": 300, "failed": 1}
        out = await api.lines(batch["output_file_id"])
        err = await api.lines(batch["error_file_id"])
        ids = [r["custom_id"] for r in out]
        assert sorted(ids) == sorted(f"r{i}" for i in range(300))
        assert ids != [f"r{i}" for i in range(300)]  # not in input order
        assert all(r["response"]["status_code"] == 200 for r in out)
        assert out[0]["response"]["body"]["usage"]["completion_tokens"] <= 5
        assert [r["custom_id"] for r in err] == ["bad"]
        assert err[0]["response"]["status_code"] == 400
        assert err[0]["response"]["body"]["error"]["param"] == "temperature"

    await _with_api(sim, go)
    assert sim.stats(log=False)["tokens"]["completion"] > 0


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([line("a"), line("a")], "duplicate_custom_id"),
        ([line("a"), line("b", model="gpt-4o")], "mismatched_model"),
        ([line("a"), b"{not json"], "invalid_json_line"),
        (
            [
                orjson.dumps(
                    {
                        "custom_id": "a",
                        "method": "POST",
                        "url": "/v1/embeddings",
                        "body": {"model": "m"},
                    }
                )
            ],
            "invalid_url",
        ),
        ([b""], "empty_file"),
    ],
)
def test_input_rules(lines, code):
    _, errors = check_input(jsonl(lines), endpoint="/v1/chat/completions")
    assert [e["code"] for e in errors] == [code]


def test_input_over_50000_requests_fails():
    data = jsonl([line(f"r{i}") for i in range(50_001)])
    requests, errors = check_input(data, endpoint="/v1/chat/completions")
    assert len(requests) == 50_001
    assert [e["code"] for e in errors] == ["too_many_requests"]


async def test_invalid_file_fails_the_whole_batch_with_line_errors(sim_factory):
    sim = sim_factory(**FAST)

    async def go(api: Api) -> None:
        _, f = await api.upload(jsonl([line("a"), line("a"), line("b", model="gpt-4o")]))
        batch = await api.wait((await api.create(f["id"]))["id"])
        assert batch["status"] == "failed"
        assert batch["output_file_id"] is None and batch["error_file_id"] is None
        errors = batch["errors"]["data"]
        assert [(e["code"], e["line"]) for e in errors] == [
            ("duplicate_custom_id", 2),
            ("mismatched_model", 3),
        ]

    await _with_api(sim, go)


async def test_forced_expiry_keeps_partial_results(sim_factory):
    sim = sim_factory(**FAST, batch_expire_after=40)

    async def go(api: Api) -> None:
        _, f = await api.upload(jsonl([line(f"r{i}") for i in range(100)]))
        batch = await api.wait((await api.create(f["id"]))["id"])
        assert batch["status"] == "expired" and batch["expired_at"] is not None
        out = await api.lines(batch["output_file_id"])
        err = await api.lines(batch["error_file_id"])
        assert len(out) == 40 and len(err) == 60
        assert {r["error"]["code"] for r in err} == {"batch_expired"}
        assert all(r["response"] is None for r in err)
        assert {r["custom_id"] for r in out} | {r["custom_id"] for r in err} == {
            f"r{i}" for i in range(100)
        }

    await _with_api(sim, go)


async def test_cancel_keeps_what_finished(sim_factory):
    sim = sim_factory(batch_time_scale=0.01, batch_requests_per_second=2_000.0)

    async def go(api: Api) -> None:
        _, f = await api.upload(jsonl([line(f"r{i}") for i in range(5_000)]))
        batch = await api.create(f["id"])
        while batch["status"] != "in_progress":
            await asyncio.sleep(0.01)
            _, batch = await api.call("GET", f"/batches/{batch['id']}")
        status, cancelling = await api.call("POST", f"/batches/{batch['id']}/cancel")
        assert status == 200 and cancelling["status"] == "cancelling"
        batch = await api.wait(batch["id"])
        assert batch["status"] == "cancelled"
        out = await api.lines(batch["output_file_id"])
        err = await api.lines(batch["error_file_id"])
        assert 0 < len(out) < 5_000
        assert len(out) + len(err) == 5_000
        assert {r["error"]["code"] for r in err} == {"batch_cancelled"}
        status, _ = await api.call("POST", f"/batches/{batch['id']}/cancel")
        assert status == 200  # cancelling a cancelled batch is harmless

    await _with_api(sim, go)


async def test_forced_failure_and_bad_create_requests(sim_factory):
    sim = sim_factory(**FAST, batch_fail=True)

    async def go(api: Api) -> None:
        _, f = await api.upload(jsonl([line("a")]))
        batch = await api.wait((await api.create(f["id"]))["id"])
        assert batch["status"] == "failed"
        status, body = await api.call(
            "POST",
            "/batches",
            {
                "input_file_id": f["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "1h",
            },
        )
        assert status == 400 and body["error"]["param"] == "completion_window"
        status, body = await api.call(
            "POST",
            "/batches",
            {
                "input_file_id": "file-nope",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
        )
        assert status == 404
        status, body = await api.upload(b"{}\n", filename="in.txt")
        assert status == 400 and body["error"]["code"] == "invalid_file_format"

    await _with_api(sim, go)


async def test_files_list_retrieve_delete_and_batches_list_pages(sim_factory):
    sim = sim_factory(**FAST)

    async def go(api: Api) -> None:
        ids = []
        for i in range(3):
            _, f = await api.upload(jsonl([line(f"r{i}")]), filename=f"p{i}.jsonl")
            ids.append((await api.create(f["id"]))["id"])
        _, page = await api.call("GET", "/batches?limit=2")
        assert [b["id"] for b in page["data"]] == ids[::-1][:2] and page["has_more"]
        _, rest = await api.call("GET", f"/batches?limit=2&after={page['last_id']}")
        assert [b["id"] for b in rest["data"]] == [ids[0]] and not rest["has_more"]
        _, files = await api.call("GET", "/files?purpose=batch")
        assert sorted(f["filename"] for f in files["data"]) == ["p0.jsonl", "p1.jsonl", "p2.jsonl"]
        victim = files["data"][0]["id"]
        status, deleted = await api.call("DELETE", f"/files/{victim}")
        assert status == 200 and deleted == {"id": victim, "object": "file", "deleted": True}
        status, _ = await api.call("GET", f"/files/{victim}")
        assert status == 404

    await _with_api(sim, go)


async def test_batch_endpoints_need_the_key(sim_factory):
    sim = sim_factory(api_key="sk-sim", **FAST)

    async def go(api: Api) -> None:
        status, body = await api.call("GET", "/batches")
        assert status == 401 and body["error"]["code"] == "invalid_api_key"

    await _with_api(sim, go)

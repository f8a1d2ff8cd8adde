"""One rate budget for every actor of a Ray cluster: a named actor, and a backend for it.

    backend = RayBudgetBackend.connect("surge-budget")   # created once, found by name after
    gate = SharedGate(limits, backend, endpoint=endpoint)

The actor holds one :class:`surge._limits.budget.Budget` and runs each call whole, on its
own clock, so every reservation is atomic across the cluster as a Redis script is. It
needs no CPU slot (``num_cpus=0``). An actor leases the budget in small slices: one call
books the requests its workers are waiting with, at most ``HORIZON`` seconds ahead (a
fraction of a second of the limit), so an actor that dies holds almost nothing.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from .._limits.budget import Budget, Grant
from .._limits.shared_gate import BudgetUnavailable

__all__ = ["NAMESPACE", "BudgetActor", "RayBudgetBackend", "budget_actor"]

NAMESPACE = "surge"


class _Budget:
    """The actor's body (a plain class: Ray wraps it below)."""

    def __init__(self) -> None:
        self._budget = Budget()

    def ping(self) -> bool:
        return True

    def reserve_many(
        self, key: str, tokens: list[int], rpm: float | None, tpm: float | None, horizon: float
    ) -> list[Grant]:
        return self._budget.reserve_many(
            key, tokens=tokens, rpm=rpm, tpm=tpm, now=time.monotonic(), horizon=horizon
        )

    def refund(
        self, key: str, requests: int, tokens: int, rpm: float | None, tpm: float | None
    ) -> None:
        self._budget.refund(key, requests=requests, tokens=tokens, rpm=rpm, tpm=tpm)

    def pause(self, key: str, seconds: float) -> None:
        self._budget.pause(key, seconds, now=time.monotonic())

    def learn(self, key: str, rpm: float | None, tpm: float | None) -> None:
        self._budget.learn(key, rpm=rpm, tpm=tpm)


BudgetActor = ray.remote(num_cpus=0, max_restarts=0)(_Budget)


def budget_actor(name: str) -> Any:
    """The budget actor called ``name``, created by whoever asks first."""
    return BudgetActor.options(  # type: ignore[attr-defined]
        name=name, namespace=NAMESPACE, get_if_exists=True
    ).remote()


class RayBudgetBackend:
    """A :class:`BudgetBackend` on a named :class:`BudgetActor`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = f"the Ray budget actor {name!r}"
        self._actor: Any = None

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            if self._actor is None:
                self._actor = budget_actor(self.name)
            return await getattr(self._actor, method).remote(*args)
        except ray.exceptions.RayError as err:
            raise BudgetUnavailable(f"{type(err).__name__}: {err}") from err

    async def open(self) -> None:
        await self._call("ping")

    async def reserve_many(
        self,
        key: str,
        *,
        tokens: list[int],
        rpm: float | None,
        tpm: float | None,
        horizon: float,
    ) -> list[Grant]:
        grants: list[Grant] = await self._call("reserve_many", key, tokens, rpm, tpm, horizon)
        return grants

    async def refund(
        self, key: str, *, requests: int, tokens: int, rpm: float | None, tpm: float | None
    ) -> None:
        await self._call("refund", key, requests, tokens, rpm, tpm)

    async def pause(self, key: str, seconds: float) -> None:
        await self._call("pause", key, seconds)

    async def learn(self, key: str, *, rpm: float | None, tpm: float | None) -> None:
        await self._call("learn", key, rpm, tpm)

    async def close(self) -> None:
        self._actor = None

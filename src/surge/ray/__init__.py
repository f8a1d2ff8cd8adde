"""surge on Ray Data: many actors, one global rate limit, per-row errors as rows.

    import ray, surge, surge.ray

    ds = ray.data.read_json("requests.jsonl")              # Batch API lines or prompt rows
    results = surge.ray.process(
        ds, endpoint="https://api.openai.com/v1", limits=surge.Limits(rpm=5000, tpm=2_000_000),
        actors=8, resume_from="results/",
    )
    results.write_parquet("results/")   # custom_id, response (JSON), error (JSON or null)

``process`` is ``ds.map_batches(SurgeProcessor, ...)`` with an actor pool of ``actors``;
:class:`SurgeProcessor` can also be used directly in your own ``map_batches`` call. The
limits hold across all actors together (one named budget actor, or ``limiter=
"redis://..."`` to share them with other jobs too). ``resume_from``: rows whose custom_id
already has a result in that folder (Parquet or JSON lines written by an earlier run)
are not sent again.

Needs ``pip install 'surge[ray]'``; nothing else in surge imports Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    import ray as _ray  # noqa: F401  # only to fail here, with the fix, when Ray is missing
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError("surge.ray needs Ray: pip install 'surge[ray]'") from err

from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ._budget import budget_actor
from ._processor import DEFAULT_BUDGET, SurgeProcessor, row_id
from ._resume import finished_ids

__all__ = ["SurgeProcessor", "finished_ids", "process"]

# The driver keeps a handle on each budget actor it creates: an actor with no handle left
# is collected, and the dataset runs lazily, after process() has returned.
_BUDGETS: dict[str, Any] = {}


def process(
    dataset: Any,
    *,
    endpoint: Endpoint | str | None = None,
    limits: Limits | None = None,
    actors: int = 2,
    batch_size: int | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | float | None = None,
    options: RunOptions | None = None,
    model: str | None = None,
    limiter: str | None = None,
    resume_from: str | Path | None = None,
    budget: str = DEFAULT_BUDGET,
    num_cpus: float = 0.5,
) -> Any:
    """A dataset of results (``custom_id``, ``response``, ``error``), one row per input row.

    Lazy, like every Ray Data transform: nothing is sent until it is consumed or written.
    Each actor runs a few batches at once over one connection pool of
    ``limits.concurrency`` connections (its cap on requests in flight); ``batch_size``
    defaults to ``limits.concurrency``. ``num_cpus`` per actor: requests wait on the
    network, so an actor needs little CPU.
    """
    if limiter is None and budget not in _BUDGETS:
        _BUDGETS[budget] = budget_actor(budget)
    if resume_from is not None:
        done = finished_ids(resume_from)
        if done:
            dataset = dataset.filter(lambda row: row_id(row) not in done)
    import ray.data

    return dataset.map_batches(
        SurgeProcessor,
        fn_constructor_kwargs={
            "endpoint": endpoint,
            "limits": limits,
            "retry": retry,
            "timeout": timeout,
            "options": options,
            "model": model,
            "limiter": limiter,
            "budget": budget,
        },
        compute=ray.data.ActorPoolStrategy(size=actors),
        batch_size=batch_size or (limits or Limits()).concurrency,
        batch_format="pyarrow",
        num_cpus=num_cpus,
    )

"""surge's OpenAI-compatible simulator: a real HTTP server on loopback for tests and demos.

Example::

    from surge_sim import SimConfig, Simulator, prompt_digest

    cfg = SimConfig(latency=0.3, latency_jitter=0.1, rpm=1200, seed=1, error_503=0.05)
    async with Simulator(cfg) as sim:
        sim.base_url            # "http://127.0.0.1:PORT/v1"
        sim.stats()             # same document as GET /stats

    with Simulator(cfg).run_in_thread() as sim:   # for synchronous callers
        ...

It serves ``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings`` and ``/v1/models``
with deterministic answers (each reply starts with ``[sim:<prompt_digest(last user text)>]``),
provider-style rate limits and seeded faults. It is independent of surge's engine on purpose:
nothing here imports from surge outside ``surge_sim``.

Modules: ``config`` (SimConfig), ``limiter`` (token bucket, sliding window, header format),
``content`` (digest, reply text, tokens, embeddings), ``schema_instance`` (structured
outputs), ``validation`` (400s), ``bodies`` (response JSON), ``faults`` (seeded draws),
``stats`` (/stats), ``server`` (aiohttp app), ``simulator`` (lifecycle), ``cli``.
"""

from .config import SimConfig
from .content import prompt_digest
from .simulator import Simulator

__all__ = ["SimConfig", "Simulator", "prompt_digest"]

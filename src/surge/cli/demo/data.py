"""The demo's inputs, generated in code so that every run sends the same requests.

    Sentiment.model_validate_json('{"sentiment": "positive", "score": 0.9}')
    arxiv_lines(1000, model="gpt-4.1-mini")       # 1,000 Batch API request lines (dicts)
    travel_questions("Lisbon")                   # three independent research questions

Nothing here does I/O. The abstracts are plausible-looking but made up: a seeded
``random.Random`` picks topics, methods and results from small word lists.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, Field

from ...models import Request

__all__ = [
    "ARXIV_SYSTEM",
    "GUIDE_SYSTEM",
    "SENTIMENT_SYSTEM",
    "TEXT_MESSAGES",
    "TRAVEL_SYSTEM",
    "Sentiment",
    "arxiv_abstract",
    "arxiv_lines",
    "bench_request",
    "chat_request",
    "guide_instruction",
    "sentiment_requests",
    "travel_questions",
]

# (a) The five messages of the async tutorial this demo retells.
TEXT_MESSAGES: tuple[str, ...] = (
    "The service here is very good!",
    "The service here is good.",
    "The service here is ok.",
    "The service here is not very good.",
    "The service here is terrible!",
)

SENTIMENT_SYSTEM = (
    "You are a sentiment analyst. Read the customer's message and answer with its "
    "sentiment (positive, neutral or negative) and a score from -1 (very negative) "
    "to 1 (very positive)."
)


class Sentiment(BaseModel):
    """The structured answer of part (a); surge sends it as a strict JSON schema."""

    sentiment: Literal["positive", "neutral", "negative"]
    score: float = Field(ge=-1, le=1, description="-1 very negative .. 1 very positive")


# (b) A daily arXiv digest: classify each new abstract.
ARXIV_SYSTEM = (
    "You triage new arXiv papers for a researcher who works on efficient LLM inference. "
    "Answer with one line: the best-fitting category (cs.CL, cs.LG, cs.CV, cs.DC or "
    "stat.ML), then 'relevant' or 'not relevant'."
)

_TASKS = (
    "machine translation",
    "long-context question answering",
    "image segmentation",
    "speculative decoding",
    "KV-cache compression",
    "graph representation learning",
    "protein structure prediction",
    "code generation",
    "time-series forecasting",
    "distributed training of large models",
    "retrieval-augmented generation",
    "video captioning",
)
_METHODS = (
    "a sparse mixture-of-experts architecture",
    "a contrastive pre-training objective",
    "a lightweight adapter",
    "a diffusion-based generator",
    "a learned quantisation scheme",
    "a curriculum of synthetic data",
    "an asynchronous pipeline schedule",
    "a Bayesian calibration layer",
)
_DATASETS = (
    "WMT-22",
    "LongBench",
    "COCO",
    "ImageNet-1k",
    "HumanEval",
    "a new benchmark of 40k examples",
    "MMLU",
    "OGB",
)
_FINDINGS = (
    "reduces latency by {n}% at equal quality",
    "improves accuracy by {n} points",
    "matches the baseline with {n}x fewer parameters",
    "cuts memory use by {n}%",
    "speeds up training {n}x on 64 GPUs",
)
_CLOSERS = (
    "Code and models are released.",
    "We discuss limitations and future work.",
    "Ablations show that each component matters.",
    "Our analysis explains when the method fails.",
)


def arxiv_abstract(i: int, *, seed: int = 0) -> str:
    """A made-up but plausible abstract; the same ``(i, seed)`` always gives the same text."""
    rng = random.Random(seed * 1_000_003 + i)
    task = rng.choice(_TASKS)
    finding = rng.choice(_FINDINGS).format(n=rng.randint(2, 60))
    return (
        f"We study {task}. Existing approaches are slow or brittle when inputs grow. "
        f"We propose {rng.choice(_METHODS)} for {task} and evaluate it on "
        f"{rng.choice(_DATASETS)}, where it {finding}. {rng.choice(_CLOSERS)}"
    )


def arxiv_lines(n: int, *, model: str, max_tokens: int = 16) -> list[dict[str, Any]]:
    """``n`` Batch API request lines classifying abstracts (100 papers, varied to ``n``).

    Line ``k`` classifies paper ``k % 100``; every further round over the same 100 papers
    asks on behalf of a different reader, so no two requests are identical.
    """
    lines = []
    for k in range(n):
        reader, paper = divmod(k, 100)
        abstract = arxiv_abstract(paper)
        prompt = f"Paper 2501.{paper:05d} (digest for reader {reader + 1}):\n\n{abstract}"
        lines.append(
            {
                "custom_id": f"arxiv-{k + 1:05d}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": model,
                    "temperature": 0,
                    "max_tokens": max_tokens,
                    "messages": [
                        {"role": "system", "content": ARXIV_SYSTEM},
                        {"role": "user", "content": prompt},
                    ],
                },
            }
        )
    return lines


# (c) The fan-out / fan-in travel guide.
TRAVEL_SYSTEM = "You are a concise travel researcher. Answer in at most three short sentences."


def travel_questions(city: str) -> tuple[str, ...]:
    """Three independent questions: none needs another's answer, so all can go at once."""
    return (
        f"What are the three must-see attractions in {city}, and why?",
        f"What is the best way for a visitor to get around {city}?",
        f"Which local customs or etiquette should a visitor to {city} know?",
    )


def chat_request(
    custom_id: str,
    prompt: str,
    *,
    model: str,
    system: str | None = None,
    max_tokens: int | None = None,
    **extra: Any,
) -> Request:
    """A chat-completions :class:`Request` with an optional system prompt."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    body: dict[str, Any] = {"model": model, "messages": messages, **extra}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return Request(custom_id=custom_id, body=body)


def sentiment_requests(model: str) -> list[Request]:
    """One request per message, ``msg-1`` .. ``msg-5``; run them with ``schema=Sentiment``."""
    return [
        chat_request(
            f"msg-{i}",
            f"Customer message: {text}",
            model=model,
            system=SENTIMENT_SYSTEM,
            temperature=0,
        )
        for i, text in enumerate(TEXT_MESSAGES, start=1)
    ]


GUIDE_SYSTEM = "You write concise travel guides."


def guide_instruction(city: str) -> str:
    """The fan-in step's instruction: ``surge.fanout`` adds every question and answer."""
    return (
        f"Using only the research below, write a short, practical travel guide for {city} "
        "(at most 120 words)."
    )


def bench_request(i: int, *, model: str, max_tokens: int, prefix: str = "bench") -> Request:
    """Request ``i`` of a benchmark: same shape and size as every other, distinct text."""
    return chat_request(
        f"{prefix}-{i + 1:06d}",
        f"Reply with the single word: ok. ({prefix} request {i + 1:06d})",
        model=model,
        temperature=0,
        max_tokens=max_tokens,
    )

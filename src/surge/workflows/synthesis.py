"""The fan-in prompts and how answers are grouped when they do not fit one context. Pure.

blocks = [answer_block(1, "Where to eat?", "At the market.")]
synthesis_prompt("Write a travel guide.", blocks, missing=[(2, "How to get around?")])
plan_groups([900, 300, 700, 200], budget=1000)     # [[0], [1, 2], [3]]: order kept
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

__all__ = [
    "answer_block",
    "group_prompt",
    "missing_note",
    "plan_groups",
    "summary_block",
    "synthesis_prompt",
]


def answer_block(number: int, question: str, answer: str) -> str:
    return f"## Question {number}: {question}\n\n{answer.strip()}\n"


def summary_block(first: int, last: int, summary: str) -> str:
    span = f"question {first}" if first == last else f"questions {first}-{last}"
    return f"## Findings from {span}\n\n{summary.strip()}\n"


def missing_note(missing: Sequence[tuple[int, str]]) -> str:
    if not missing:
        return ""
    lines = "\n".join(f"- question {n}: {textwrap.shorten(q, 200)}" for n, q in missing)
    return (
        "\nThese parts have no answer (the requests failed), so say plainly in your reply "
        f"that this information is missing:\n{lines}\n"
    )


def synthesis_prompt(
    instruction: str, blocks: Sequence[str], missing: Sequence[tuple[int, str]] = ()
) -> str:
    """The one request that sees every answer, in the questions' order."""
    return (
        f"{instruction.strip()}\n\nBase your answer on the research below, given in order.\n\n"
        + "\n".join(blocks)
        + missing_note(missing)
    )


def group_prompt(instruction: str, blocks: Sequence[str], part: int, parts: int) -> str:
    """A first-level reduction: condense one group of answers for the final synthesis."""
    return (
        f"The research below is part {part} of {parts}. A later step will combine all parts "
        f"to do this: {instruction.strip()}\n\nCondense this part, keeping every fact that "
        "matters for that task and the question numbers it comes from.\n\n" + "\n".join(blocks)
    )


def plan_groups(sizes: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive groups of block indexes, each within ``budget`` tokens when possible.

    A block larger than the budget on its own forms its own group (it cannot be split
    without cutting an answer in half).
    """
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, size in enumerate(sizes):
        if current and used + size > budget:
            groups.append(current)
            current, used = [], 0
        current.append(i)
        used += size
    if current:
        groups.append(current)
    return groups

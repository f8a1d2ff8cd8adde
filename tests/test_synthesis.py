"""The pure parts of fan-out: prompts and grouping."""

from __future__ import annotations

import pytest

from surge.workflows.synthesis import (
    answer_block,
    group_prompt,
    missing_note,
    plan_groups,
    summary_block,
    synthesis_prompt,
)


@pytest.mark.parametrize(
    ("sizes", "budget", "groups"),
    [
        ([], 10, []),
        ([3, 3, 3], 10, [[0, 1, 2]]),
        ([900, 300, 700, 200], 1000, [[0], [1, 2], [3]]),
        ([5, 20, 5], 10, [[0], [1], [2]]),  # an oversized block stands alone
        ([4, 4, 4, 4], 8, [[0, 1], [2, 3]]),
    ],
)
def test_plan_groups_keeps_order_and_budget(
    sizes: list[int], budget: int, groups: list[list[int]]
) -> None:
    assert plan_groups(sizes, budget) == groups
    assert [i for g in groups for i in g] == list(range(len(sizes)))


def test_prompts_carry_everything_in_order() -> None:
    blocks = [answer_block(1, "Where?", " Here. "), answer_block(2, "When?", "Now")]
    prompt = synthesis_prompt("Write a guide.", blocks, missing=[(3, "Why?")])
    assert prompt.index("Question 1: Where?") < prompt.index("Here.") < prompt.index("Question 2")
    assert prompt.startswith("Write a guide.") and "- question 3: Why?" in prompt
    assert missing_note([]) == ""
    assert len(missing_note([(1, "x" * 5000)])) < 400  # a huge question is shortened
    assert summary_block(1, 3, "s").startswith("## Findings from questions 1-3")
    assert summary_block(2, 2, "s").startswith("## Findings from question 2")
    part = group_prompt("Write a guide.", blocks, 2, 5)
    assert "part 2 of 5" in part and "Write a guide." in part and "Question 2: When?" in part

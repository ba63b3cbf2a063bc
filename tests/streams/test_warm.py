"""``service.core.streams.warm``: its parts cover every step once, with about the same cost each."""

from __future__ import annotations

import pytest

from service.core.streams.warm import STEPS, partition, warm


@pytest.mark.parametrize("parts", [1, 2, 3, len(STEPS) + 1])
def test_parts_cover_every_step_once(parts: int) -> None:
    chosen = partition(parts)
    assert len(chosen) == parts
    assert sorted(i for part in chosen for i in part) == list(range(len(STEPS)))
    assert all(part == sorted(part) for part in chosen)  # the steps' order within a part (default stream first)


def test_two_parts_cost_about_the_same() -> None:
    costs = [sum(STEPS[i][0] for i in part) for part in partition(2)]
    assert max(costs) - min(costs) <= max(cost for cost, _ in STEPS)


@pytest.mark.parametrize(("part", "parts"), [(2, 2), (-1, 2), (0, 0)])
def test_a_part_outside_the_parts_is_refused(part: int, parts: int) -> None:
    with pytest.raises(ValueError, match="part"):
        warm(part=part, parts=parts)

"""A block whose consumer went away stops within one chunk."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from service.core import Engine, TensorPlan
from service.core.engine import BLOCK_CHUNKS, Cancelled, fill_block
from service.core.sources import CHUNK_ELEMENTS


class CountingEvent(threading.Event):
    """Set after ``checks`` calls to ``is_set``: counts the chunks made before the stop."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.remaining = checks

    def is_set(self) -> bool:
        self.remaining -= 1
        return self.remaining < 0


def test_a_block_stops_at_the_next_chunk_once_cancelled(plan: Callable[..., TensorPlan]) -> None:
    tensor = plan((BLOCK_CHUNKS * CHUNK_ELEMENTS,), "he")
    cancel = CountingEvent(checks=3)
    with pytest.raises(Cancelled):
        fill_block(tensor, 0, BLOCK_CHUNKS, cancel=cancel)
    assert cancel.remaining == -1  # three chunks made, the fourth refused


def test_an_unset_event_changes_nothing(plan: Callable[..., TensorPlan]) -> None:
    tensor = plan((3, BLOCK_CHUNKS * CHUNK_ELEMENTS // 3), "glorot")
    with Engine(2) as engine:
        expected = engine.generate(tensor).array.reshape(-1)
        block = engine.submit(tensor, 0, BLOCK_CHUNKS, cancel=threading.Event()).result()
    assert block.values.tobytes() == expected.tobytes()


def test_a_cancelled_submission_raises_through_its_future(plan: Callable[..., TensorPlan]) -> None:
    tensor = plan((BLOCK_CHUNKS * CHUNK_ELEMENTS,), "normal")
    cancel = threading.Event()
    cancel.set()
    with Engine(2) as engine:
        future = engine.submit(tensor, 0, BLOCK_CHUNKS, cancel=cancel)
        with pytest.raises(Cancelled):
            future.result()

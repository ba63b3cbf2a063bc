"""schemathesis' items all get the node id ``...::test_in_process`` under pytest 9.2 (its structured ``NodeId``
drops their ``[GET /healthz]`` part); pytest-xdist schedules by node id, so under ``-n`` every operation but
the first was silently dropped. Each item gets its operation back in its id, as its name has it."""

from __future__ import annotations

import pytest
from _pytest.nodes import NodeId


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "[" in item.name and "[" not in item.nodeid:
            item._id = NodeId.parse(item.nodeid + item.name[item.name.index("[") :])  # type: ignore[attr-defined]

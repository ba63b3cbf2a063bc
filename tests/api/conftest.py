"""Fixtures of the HTTP tests (helpers live in ``helpers.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from .helpers import app_client


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app per test module with the default limits, lifespan started."""
    with app_client() as c:
        yield c

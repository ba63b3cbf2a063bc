"""Admission control: the byte budget itself, and the 503 it gives in the app."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from service.api.admission import Admission, Overloaded
from service.core import make_tensor

from .helpers import app_client, load_npy, metric_value, problem_of, tensor_request


def test_budget_admits_in_order_and_times_out() -> None:
    async def scenario() -> None:
        budget = Admission(100, timeout=0.2)
        first = await budget.acquire(60)
        second = await budget.acquire(40)
        assert budget.in_use == 100
        order: list[str] = []

        async def wait(name: str, n: int) -> None:
            lease = await budget.acquire(n)
            order.append(name)
            lease.release()

        a = asyncio.create_task(wait("a", 50))
        b = asyncio.create_task(wait("b", 10))  # fits after a, not before it: first come, first served
        await asyncio.sleep(0.01)
        assert order == []
        first.release()
        first.release()  # idempotent
        await asyncio.gather(a, b)
        assert order == ["a", "b"]
        with pytest.raises(Overloaded) as refused:
            await budget.acquire(61)
        assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "1"}
        assert budget.in_use == 40 and not budget._waiters
        huge = asyncio.create_task(budget.acquire(10**12))  # cut to the whole budget: runs alone
        await asyncio.sleep(0.01)
        second.release()
        lease = await huge
        assert lease.nbytes == 100 and budget.in_use == 100
        lease.release()
        assert budget.in_use == 0

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_the_line() -> None:
    async def scenario() -> None:
        budget = Admission(10, timeout=5)
        held = await budget.acquire(10)
        blocked = asyncio.create_task(budget.acquire(10))
        small = asyncio.create_task(budget.acquire(1))
        await asyncio.sleep(0.01)
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        held.release()
        (await small).release()
        assert budget.in_use == 0 and not budget._waiters

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("path", "shape"), [("/v1/tensors/npy", [64, 128]), ("/v1/tensors", [64, 128]), ("/v1/tensors/stats", [4096, 512])]
)
def test_a_full_budget_answers_503_with_retry_after(path: str, shape: list[int]) -> None:
    with app_client(generation_budget_bytes=1 << 20, admission_timeout=0.05) as client:
        admission = client.app.state.runtime.admission  # type: ignore[attr-defined]
        assert admission.capacity == 1 << 20
        admission.in_use = admission.capacity  # every byte held by someone else
        response = client.post(path, json=tensor_request(shape))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert "busy" in problem_of(response)["detail"]
        assert client.post(path, json=tensor_request([4, 4])).status_code == 200  # tiny tensors need no room
        admission.in_use = 0
        assert client.post(path, json=tensor_request(shape)).status_code == 200
        assert admission.in_use == 0  # given back once sent
        metrics = client.get("/metrics").text
        assert 'initserve_admission_rejected_total{route="' + path + '"} 1.0' in metrics


def test_default_budget_follows_max_elements() -> None:
    with app_client(max_elements=1 << 20) as client:
        assert client.app.state.runtime.admission.capacity == 4 << 20  # type: ignore[attr-defined]


@pytest.mark.parametrize(("shape", "pooled_blocks"), [([256, 256], 0), ([256, 257], 1)])
def test_a_one_chunk_answer_is_made_on_the_event_loop(shape: list[int], pooled_blocks: int) -> None:
    """Up to one chunk (65,536 elements) the tensor is made on the loop (no pool block counted), beyond it on
    the pool; the bytes and statistics are the core's either way, and both hold a lease."""
    with app_client(generation_budget_bytes=1 << 20, admission_timeout=0.05) as client:
        before = client.get("/metrics").text
        response = client.post("/v1/tensors/npy", json=tensor_request(shape, dtype="float16", seed=3))
        assert response.status_code == 200
        expected = make_tensor(shape, "he", seed=3, dtype="float16")
        assert load_npy(response.content).tobytes() == expected.array.tobytes()
        assert float(response.headers["x-init-empirical-variance"]) == expected.empirical.variance
        counted = [
            metric_value(text, "initserve_blocks_generated_total") for text in (before, client.get("/metrics").text)
        ]
        assert counted[1] - counted[0] == pooled_blocks
        admission = client.app.state.runtime.admission  # type: ignore[attr-defined]
        admission.in_use = admission.capacity
        assert client.post("/v1/tensors/npy", json=tensor_request(shape)).status_code == 503
        admission.in_use = 0


def test_a_model_made_on_the_event_loop_lets_it_serve_between_tensors() -> None:
    """A buffered model of 128 one-chunk tensors is made on the event loop one tensor at a time: the loop runs
    other tasks between two (counted by a task that only yields), not once for the whole model."""
    entries = [{"name": f"w{i}", "shape": [256, 256], "init": {"scheme": "he"}} for i in range(128)]
    turns = 0

    async def scenario(app: Any) -> None:
        nonlocal turns

        async def other_task() -> None:
            nonlocal turns
            while True:
                await asyncio.sleep(0)
                turns += 1

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            other = asyncio.create_task(other_task())
            answer = await http.post("/v1/models/safetensors", json={"entries": entries, "seed": 1, "dtype": "float16"})
            other.cancel()
        assert answer.status_code == 200 and len(answer.content) > 128 * 2 * 65536

    with app_client() as client:
        asyncio.run(scenario(client.app))
    assert turns >= len(entries)

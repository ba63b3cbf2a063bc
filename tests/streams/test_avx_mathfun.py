"""``service.core.kernels.avx_mathfun`` against the installed PyTorch: 0 differing bits.

Two kinds of evidence:

* streams: ``torch.manual_seed(s); torch.empty(n).normal_(mean, std)`` rebuilt from ``torch.rand`` after the
  same seed (blocks of 16, the recomputed tail when ``n % 16 != 0``), also under ``ATEN_CPU_CAPABILITY``
  ``avx2`` and ``avx512`` (the AVX512 dispatch has no ``normal_kernel``: it runs the AVX2 one);
* exhaustive domains: a ``torch.Generator`` whose MT19937 state is crafted (untempered draws, ``left = 624``)
  makes ``normal_`` transform chosen uniforms, so every ``u1`` in ``(0, 1]`` (steps of 2**-24) is checked with
  ``u2 = 0`` (the output is the radius ``sqrt(-2 log u1)``), and every ``u2`` in ``[0, 1)`` with a ``u1`` whose
  radius is exactly 1 (the outputs are ``cos`` and ``sin`` of ``2pi u2`` themselves).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from service.core.kernels.avx_mathfun import log256_ps, normal_block16, normal_fill, sincos256_ps  # noqa: E402

pytestmark = pytest.mark.torch

MEAN_STD = [(0.0, 1.0), (0.5, 0.02), (-3.0, 7.0)]
# the draw v whose u1 = 1 - v * 2**-24 gives sqrt(-2 * log256_ps(u1)) == 1.0 exactly (found by scanning all u1)
RADIUS_ONE_DRAW = 2**24 - 10175896
CRAFTED = 608  # whole blocks out of the 623 draws a crafted state (left = 624, next = 0) yields before a twist


def uniforms(seed: int, count: int) -> np.ndarray:
    torch.manual_seed(seed)
    return torch.rand(count).numpy()


def rebuild(seed: int, n: int, mean: float, std: float) -> np.ndarray:
    """``normal_``'s output from its uniform stream: ``n`` draws, plus 16 for the tail block."""
    return normal_fill(uniforms(seed, n + (16 if n % 16 else 0)), n, np.float32(mean), np.float32(std))


def differing(a: np.ndarray, b: np.ndarray) -> int:
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    return int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32)))


@pytest.mark.parametrize("seed", [0, 1, 12345])
@pytest.mark.parametrize("n", [16, 4096 * 16, 2**20, 1000, 2**20 + 7])
def test_normal_streams_bit_exact(seed: int, n: int) -> None:
    for mean, std in MEAN_STD:
        torch.manual_seed(seed)
        expected = torch.empty(n).normal_(mean, std).numpy()
        assert differing(rebuild(seed, n, mean, std), expected) == 0, (seed, n, mean, std)


def test_block_in_place_and_tail_rule() -> None:
    d = uniforms(7, 48)
    block = d[:16].copy()
    normal_block16(block, np.float32(0.0), np.float32(1.0), block)  # in place, as PyTorch does
    assert differing(block, normal_fill(d, 16, np.float32(0.0), np.float32(1.0))) == 0
    # n = 20: one full block, then out[4:20] is the block of the draws 20..35 (out[0:4] kept from the first)
    out = normal_fill(d, 20, np.float32(0.0), np.float32(1.0))
    first = normal_fill(d[:16], 16, np.float32(0.0), np.float32(1.0))
    tail = normal_fill(d[20:36], 16, np.float32(0.0), np.float32(1.0))
    assert differing(out[:4], first[:4]) == 0 and differing(out[4:], tail) == 0
    with pytest.raises(ValueError):
        normal_fill(d, 15, np.float32(0.0), np.float32(1.0))
    with pytest.raises(ValueError):
        normal_fill(d[:20], 20, np.float32(0.0), np.float32(1.0))


_CHILD = """
import sys, torch
torch.manual_seed(int(sys.argv[1]))
x = torch.empty(int(sys.argv[2])).normal_()
sys.stdout.buffer.write(torch.backends.cpu.get_cpu_capability().encode().ljust(16) + x.numpy().tobytes())
"""


@pytest.fixture(scope="module")
def capability_runs() -> dict[str, bytes]:
    """``normal_()`` of seed 3, n = 4096 * 16 + 9 under each ``ATEN_CPU_CAPABILITY``, as the capability torch ran
    (16 bytes) and the values: in child processes, run at once, except the capability this process runs when
    nothing asks it for one (torch's default: AVX2 even on some AVX-512 CPUs), whose run is made here."""
    here = torch.backends.cpu.get_cpu_capability()
    runs, children = {}, {}
    for capability in ("avx2", "avx512"):
        if "ATEN_CPU_CAPABILITY" not in os.environ and here.lower() == capability:
            torch.manual_seed(3)
            runs[capability] = here.encode().ljust(16) + torch.empty(4096 * 16 + 9).normal_().numpy().tobytes()
            continue
        children[capability] = subprocess.Popen(
            [sys.executable, "-c", _CHILD, "3", str(4096 * 16 + 9)],
            env={**os.environ, "ATEN_CPU_CAPABILITY": capability},
            stdout=subprocess.PIPE,
        )
    for capability, child in children.items():
        runs[capability] = child.communicate(timeout=120)[0]
        assert child.returncode == 0
    return runs


@pytest.mark.parametrize("capability", ["avx2", "avx512"])
def test_cpu_capability(capability: str, capability_runs: dict[str, bytes]) -> None:
    raw = capability_runs[capability]
    used = raw[:16].decode().strip()
    if used.lower() != capability:
        pytest.skip(f"this CPU runs {used} when {capability} is asked for")
    assert differing(np.frombuffer(raw[16:], np.float32), rebuild(3, 4096 * 16 + 9, 0.0, 1.0)) == 0


def untemper(y: np.ndarray) -> np.ndarray:
    """The MT19937 state words whose tempered outputs are ``y`` (uint32)."""
    y = y.astype(np.uint32)
    y ^= y >> np.uint32(18)
    y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
    x = y.copy()
    for _ in range(5):
        x = y ^ ((x << np.uint32(7)) & np.uint32(0x9D2C5680))
    y = x
    for _ in range(3):
        x = y ^ (x >> np.uint32(11))
    return x


def crafted_normal(draws: np.ndarray) -> np.ndarray:
    """``normal_()`` (mean 0, std 1) of a float32 tensor whose uniform draws are ``draws`` (len % 608 == 0).

    ``CPUGeneratorImpl``'s state (5056 bytes): seed u64, ``left`` i32, ``seeded`` i32, ``next`` u64, 624 state
    words as u64 from byte 24. With ``left = 624`` and ``next = 0`` the next 623 draws are the tempered words
    0..622, untouched by a twist.
    """
    generator = torch.Generator()
    generator.manual_seed(0)
    buffer = generator.get_state().numpy().copy()
    buffer[8:12] = np.frombuffer(np.int32(624).tobytes(), np.uint8)
    buffer[16:24] = 0
    words = buffer[24 : 24 + 624 * 8].view(np.uint64)
    state = torch.from_numpy(buffer)
    calls = draws.size // CRAFTED
    stream = untemper(draws).reshape(calls, CRAFTED)
    out = torch.empty(calls, CRAFTED)
    for i in range(calls):
        words[:CRAFTED] = stream[i]
        generator.set_state(state)
        out[i].normal_(generator=generator)
    return out.numpy().reshape(-1)


def sweep(draws: np.ndarray) -> int:
    """Differing bits between crafted ``normal_`` and the rebuild over the uniforms of ``draws``."""
    draws = np.concatenate([draws, np.zeros(-draws.size % CRAFTED, np.uint32)])
    u = (draws & np.uint32(0xFFFFFF)).astype(np.float32) * np.float32(2.0**-24)
    return differing(crafted_normal(draws), normal_fill(u, u.size, np.float32(0.0), np.float32(1.0)))


def test_crafted_state_gives_chosen_draws() -> None:
    draws = np.random.default_rng(5).integers(0, 2**32, CRAFTED, dtype=np.uint64).astype(np.uint32)
    generator = torch.Generator()
    generator.manual_seed(0)
    buffer = generator.get_state().numpy().copy()
    buffer[8:12] = np.frombuffer(np.int32(624).tobytes(), np.uint8)
    buffer[16:24] = 0
    buffer[24 : 24 + CRAFTED * 8].view(np.uint64)[:] = untemper(draws)
    generator.set_state(torch.from_numpy(buffer))
    expected = (draws & np.uint32(0xFFFFFF)).astype(np.float32) * np.float32(2.0**-24)
    assert differing(torch.rand(CRAFTED, generator=generator).numpy(), expected) == 0


@pytest.mark.slow
def test_radius_exhaustive_over_u1() -> None:
    """All 2**24 values of ``u1``: lanes 0..7 draw ``v`` (``u1 = 1 - v 2**-24``), lanes 8..15 draw 0 (cos = 1)."""
    draws = np.zeros((2**21, 16), np.uint32)
    draws[:, :8] = np.arange(2**24, dtype=np.uint32).reshape(-1, 8)
    assert sweep(draws.reshape(-1)) == 0


@pytest.mark.slow
def test_sincos_exhaustive_over_u2() -> None:
    """All 2**24 values of ``u2`` with a radius of exactly 1: the outputs are ``cos`` and ``sin`` themselves."""
    u1 = np.float32(1.0) - np.float32(RADIUS_ONE_DRAW) * np.float32(2.0**-24)
    assert np.sqrt(np.float32(-2.0) * log256_ps(u1)) == np.float32(1.0)
    draws = np.full((2**21, 16), RADIUS_ONE_DRAW, np.uint32)
    draws[:, 8:] = np.arange(2**24, dtype=np.uint32).reshape(-1, 8)
    assert sweep(draws.reshape(-1)) == 0


def test_scalar_functions() -> None:
    assert log256_ps(np.float32(1.0)) == 0.0
    assert math.isnan(log256_ps(np.float32(0.0))) and math.isnan(log256_ps(np.float32(-1.0)))
    tiny = np.uint32(1).view(np.float32)[()]  # a denormal: cut to the smallest normal
    assert log256_ps(tiny) == log256_ps(np.float32(np.finfo(np.float32).tiny))
    for x in np.linspace(0.001, 100.0, 1001, dtype=np.float32):
        assert abs(float(log256_ps(x)) - math.log(float(x))) <= 2e-7 * max(1.0, abs(math.log(float(x))))
    s, c = sincos256_ps(np.float32(0.0))
    assert (s, c) == (0.0, 1.0) and not math.copysign(1.0, s) < 0
    for x in np.linspace(-8.0, 8.0, 1001, dtype=np.float32):
        s, c = sincos256_ps(x)
        assert abs(float(s) - math.sin(float(x))) <= 2e-7 and abs(float(c) - math.cos(float(x))) <= 2e-7
        assert float(np.float32(s)) == s and float(np.float32(c)) == c  # float32 results

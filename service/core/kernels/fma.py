"""Fused multiply-add as one IEEE operation (``a * b + c`` rounded once), for numba kernels.

Kernels are compiled with ``fastmath`` off, so LLVM never fuses on its own; a kernel that must
reproduce a framework's fused instruction (``vfmadd`` in PyTorch's AVX2 build) calls ``fma``
explicitly, inside an ``@njit`` function, on three values of one float type (float32 or float64).
It lowers to LLVM's ``llvm.fma`` intrinsic, exact on every machine (a hardware FMA where there is
one, else a correctly rounded software routine).
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic


@intrinsic
def fma(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """``a * b + c`` rounded once: ``llvm.fma.f32`` or ``llvm.fma.f64``."""
    if not (a == b == c and isinstance(a, types.Float)):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fma(*args)

    return a(a, b, c), codegen

"""Bit casts between IEEE floats and unsigned integers of the same width, for numba kernels.

What C does with a union or ``memcpy`` (glibc's ``asuint``/``asfloat``, ``_mm256_castps_si256`` on one
lane): the same bits, read as the other type. They lower to one LLVM ``bitcast``: no conversion, no
rounding. Use inside ``@njit`` functions; each takes exactly its source type.
"""

from __future__ import annotations

from typing import Any

from numba import types
from numba.extending import intrinsic


def _bitcast(source: types.Type, target: types.Type) -> Any:
    @intrinsic
    def cast(typingctx, value):  # type: ignore[no-untyped-def]
        if value != source:
            return None

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    return cast


#: The bits of a float32 as a uint32.
as_uint32 = _bitcast(types.float32, types.uint32)
#: The float32 whose bits are a uint32.
as_float32 = _bitcast(types.uint32, types.float32)
#: The bits of a float64 as a uint64.
as_uint64 = _bitcast(types.float64, types.uint64)
#: The float64 whose bits are a uint64.
as_float64 = _bitcast(types.uint64, types.float64)

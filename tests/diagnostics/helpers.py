"""Constants and types of the diagnostics tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from service.core.diagnostics import Report

#: The textbook network: 50 layers of width 256. The batch only sets how well each layer's variance is
#: estimated (the noise that matters comes from the finite width, through the shared weights): 128 is plenty.
DEPTH, WIDTH, BATCH = 50, 256, 128

Scheme = tuple[str, Mapping[str, object]]
#: The "old heuristic" U(-1/sqrt(n), 1/sqrt(n)): variance 1 / (3 n) (also PyTorch's nn.Linear default).
OLD_HEURISTIC: Scheme = ("variance_scaling", {"scale": 1 / 3, "mode": "fan_in", "distribution": "uniform"})

#: ``measure(activation, [(scheme, params), ...], seed=1, widths=None, batch=BATCH, slope=None)``
Measure = Callable[..., Report]

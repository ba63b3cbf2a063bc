"""The propagation diagnostics as an SVG line chart, drawn with matplotlib's object-oriented API.

Two panels share a log-scale y axis: the forward pass (variance of the pre-activations, relative to
layer 1, against the layer) and the backward pass (variance of the gradients with respect to the
pre-activations, relative to layer L where the gradients enter, against the layer read from L down
to 1). In both panels the signal travels left to right and starts at 1, so a falling line vanishes
and a rising one explodes; the grey cone is the stable band (a gain of 0.9 to 1.1 per layer). One
colour per compared scheme; the legend gives each scheme's gains and verdicts and marks the
recommended one.

matplotlib is imported on first use (start-up stays fast and writes nothing); it needs a writable
cache directory (``MPLCONFIGDIR``, else ``~/.cache`` or a temporary one), which is why
``MatplotlibUnavailable`` exists. pyplot is never used (its global state is not thread-safe); renders
are serialized by a lock, since matplotlib's text and font caches are shared between figures. The
bytes are deterministic for a given report and matplotlib version: ``svg.hashsalt`` is fixed (element
ids), text is kept as text (``svg.fonttype: none``) and the metadata carry no date.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from typing import Any, Final

from service.core.diagnostics import EXPLODING_ABOVE, VANISHING_BELOW, LayerStats, Report, Run

MEDIA_TYPE: Final[str] = "image/svg+xml"
_LINESTYLES: Final[tuple[str, ...]] = ("-", "--", "-.", ":")
_MARKERS: Final[tuple[str, ...]] = ("o", "s", "^", "D", "v", "P", "X", "*")
_TINY, _HUGE = 1e-200, 1e200  # beyond, matplotlib's log axis (limits, ticks) overflows float64
_LOCK = threading.Lock()
_STYLE: Final[dict[str, Any]] = {
    "svg.hashsalt": "initserve-propagation",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 10.0,
}


class MatplotlibUnavailable(RuntimeError):
    """matplotlib could not be imported (typically: no writable directory for its cache)."""


def _short(value: float | int | str) -> str:
    """A number for a label: 6 significant digits (`%g`)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def scheme_label(run: Run) -> str:
    """``he (normal, fan_in, negative_slope=0)``: choices by value, numbers by name."""
    parts = [str(v) if isinstance(v, str) else f"{k}={_short(v)}" for k, v in run.init.params.items()]
    return f"{run.init.scheme} ({', '.join(parts)})" if parts else run.init.scheme


def _trend_text(name: str, gain: float | None, verdict: str | None) -> str:
    if verdict is None:
        return f"{name} not measured"
    return f"{name} \u00d7{gain:.3f} per layer, {verdict}" if gain is not None else f"{name} {verdict}"


def _series(layers: Sequence[LayerStats], quantity: str, start: int) -> list[float]:
    """The variance of ``quantity`` at every layer, relative to that at layer index ``start`` (where the
    pass starts); NaN (a gap in the line) where unmeasured, not positive, or beyond [1e-200, 1e200]."""
    values = [getattr(layer, quantity).variance for layer in layers]
    first = values[start]
    if first is None or first <= 0.0:
        return [math.nan] * len(values)
    relative = [v / first if v is not None else math.nan for v in values]
    return [r if _TINY <= r <= _HUGE else math.nan for r in relative]


def _log_limits(series: list[list[float]]) -> tuple[float, float]:
    """y limits holding every finite value with a 5 % margin in log space (matplotlib's own margin
    overflows float64 when the values span hundreds of decades)."""
    finite = [math.log10(v) for values in series for v in values if math.isfinite(v)]
    low, high = min(finite), max(finite)
    margin = 0.05 * max(high - low, 1.0)
    return 10.0 ** max(low - margin, math.log10(_TINY)), 10.0 ** min(high + margin, math.log10(_HUGE))


def _figure_title(report: Report) -> str:
    net = report.network
    widths = set(net.widths)
    shape = f"{net.depth} layers of width {net.widths[0]}" if len(widths) == 1 else f"widths {list(net.widths)}"
    act = net.activation.name
    if net.activation.negative_slope is not None:
        act += f" (negative slope {_short(net.activation.negative_slope)})"
    return f"Signal propagation: {shape}, {act}, batch {net.batch}, seed {net.seed}"


def render(report: Report) -> bytes:
    """The chart of ``report`` as SVG bytes."""
    try:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
    except (ImportError, OSError) as exc:  # not installed, or no writable cache directory
        raise MatplotlibUnavailable(str(exc)) from exc

    depth = report.network.depth
    layers = list(range(1, depth + 1))
    steps = range(depth)
    with _LOCK, matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(11.0, 4.9 + 0.22 * len(report.runs)), layout="constrained")  # room for the legend
        FigureCanvasSVG(fig)
        forward, backward = fig.subplots(1, 2, sharey=True)
        low, high = [VANISHING_BELOW**k for k in steps], [EXPLODING_ABOVE**k for k in steps]
        plotted = [low, high]
        series = [
            (_series(r.layers, "pre_activation", 0), _series(r.layers, "pre_activation_grad", -1)) for r in report.runs
        ]
        plotted += [values for pair in series for values in pair]
        for ax in (forward, backward):  # limits first: matplotlib's log autoscale overflows on huge spans
            ax.set_yscale("log")
        forward.set_ylim(*_log_limits(plotted))
        band = {"color": "0.85", "alpha": 0.6, "linewidth": 0}
        label = f"stable band: gain {VANISHING_BELOW:g} to {EXPLODING_ABOVE:g} per layer"
        forward.fill_between(layers, low, high, label=label, **band)
        backward.fill_between(layers, low[::-1], high[::-1], **band)
        for index, run in enumerate(report.runs):
            best = report.recommendation == index
            label = scheme_label(run)
            label += f": {_trend_text('forward', run.forward.gain, run.forward.verdict)}"
            label += f"; {_trend_text('backward', run.backward.gain, run.backward.verdict)}"
            if best:
                label += "  ← recommended"
            line = {
                "color": f"C{index % 10}",
                "linestyle": _LINESTYLES[index % len(_LINESTYLES)],
                "marker": _MARKERS[index % len(_MARKERS)],
                "markersize": 3.0,
                # The recommended scheme is drawn wider and underneath, so that a scheme that coincides
                # with it (Glorot and LeCun on square layers) stays visible on top.
                "linewidth": 3.2 if best else 1.5,
                "zorder": 2 if best else 3,
            }
            forward.plot(layers, series[index][0], label=label, **line)
            backward.plot(layers, series[index][1], **line)
        for ax in (forward, backward):
            ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle=":")
            ax.grid(True, which="major", color="0.9", linewidth=0.6)
            ax.set_xlim(1, depth)
        forward.set_title("Forward: variance of the pre-activations z")
        forward.set_xlabel("layer (input side to output side)")
        forward.set_ylabel("variance relative to where the pass starts (log scale)")
        backward.set_title("Backward: variance of the gradients ∂Loss/∂z")
        backward.set_xlabel("layer (from the output, layer L, back to layer 1)")
        backward.invert_xaxis()
        backward.tick_params(labelleft=True)
        fig.suptitle(_figure_title(report), fontsize=12)
        fig.legend(loc="outside lower center", ncols=1, frameon=False, fontsize=9)
        out = io.BytesIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()

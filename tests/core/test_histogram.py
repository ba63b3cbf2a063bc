"""``HistogramBins``: counts summed over any chunking equal ``numpy.histogram`` of the whole array, values
on the edges included; the bins' checks name the field."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from service.core import ParameterError
from service.core.stats import MAX_BINS, HistogramBins, histogram_bins


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, ml_dtypes.bfloat16])
@pytest.mark.parametrize("value_range", [None, (-1.0, 0.5), (0.25, 0.25), (-1e-40, 1e-40), (-1e308, 1e308)])
@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 17])
def test_chunked_counts_equal_the_whole(dtype: type, value_range: tuple[float, float] | None, chunk: int) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=3000).astype(dtype)
    try:
        bins = histogram_bins(33, value_range, np.dtype(dtype), float(values.min()), float(values.max()))
    except ParameterError:  # refused (422) only where NumPy fails too, or its edges overflow the dtype
        whole = values.astype(np.float32) if dtype is ml_dtypes.bfloat16 else values
        with np.errstate(all="ignore"):
            try:
                edges = np.histogram_bin_edges(whole, 33, value_range)
            except ValueError:
                return
        assert not np.isfinite(edges).all()
        return
    edges = bins.edges()
    values[:33] = edges[:33].astype(dtype)  # values exactly on the edges
    whole = values.astype(np.float32) if dtype is ml_dtypes.bfloat16 else values
    bins = histogram_bins(33, value_range, np.dtype(dtype), float(values.min()), float(values.max()))
    counts = sum(bins.counts(values[i : i + chunk]) for i in range(0, values.size, chunk))
    with np.errstate(under="ignore"):
        expected, expected_edges = np.histogram(whole, 33, value_range)
    assert np.array_equal(counts, expected)
    assert np.array_equal(bins.edges(), expected_edges)
    assert isinstance(bins, HistogramBins) and counts.sum() <= values.size


@pytest.mark.parametrize(
    ("bins", "value_range", "field"),
    [
        (0, None, "histogram.bins"),
        (MAX_BINS + 1, None, "histogram.bins"),
        (4, (1.0, -1.0), "histogram.range"),
        (4, (0.0, float("inf")), "histogram.range"),
        (4, (-1e6, 1e6), "histogram.range"),  # float16 overflows
    ],
)
def test_bad_bins_name_the_field(bins: int, value_range: tuple[float, float] | None, field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        histogram_bins(bins, value_range, np.dtype(np.float16), 0.0, 1.0)
    assert caught.value.field == field


def test_extremes_too_close_for_the_bins_name_the_histogram() -> None:
    one = float(np.float32(1.0))
    with pytest.raises(ParameterError) as caught:
        histogram_bins(1024, None, np.dtype(np.float32), one, float(np.nextafter(np.float32(1.0), np.float32(2))))
    assert caught.value.field == "histogram"

"""The ``torch`` and ``torch-default`` streams: PyTorch 2.13 CPU generator and kernels, re-implemented in numba."""

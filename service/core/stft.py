"""STFT kernels: the DFT cos/sin basis of Keras 3's ``keras.initializers.STFT``, windowed and normalised.

Source: Keras 3.15.1, ``keras/src/initializers/constant_initializers.py``, class ``STFT``
(exported as ``keras.initializers.STFT`` / ``stft`` / ``STFTInitializer``), used by the
``STFTSpectrogram`` layer. For a kernel of shape ``(T, 1, F)`` (``T`` the frame length, ``F = N/2 + 1``
frequency bins of an ``N = 2 (F - 1)``-point DFT)::

    real:  K[t, 0, f] =  cos(2 pi t f / N) * w[t] / s
    imag:  K[t, 0, f] = -sin(2 pi t f / N) * w[t] / s

(Keras writes the angle as ``-2 pi t f / N``: the real and imaginary parts of ``exp(-2 pi i t f / N)``.)
``w`` is the window, ``scipy.signal.get_window(window, T, fftbins=periodic)`` for a window name
(``periodic=True``: the first ``T`` samples of the symmetric window of length ``T + 1``; a name suffix
``_periodic`` / ``_symmetric`` overrides ``periodic``, as in SciPy). The normalisation ``s`` is

    density:   s = sqrt(sum_t w[t]^2)   (L2 norm of the window)
    spectrum:  s = sum_t |w[t]|         (L1 norm of the window)
    None:      s = 1

With ``window=None`` Keras applies neither a window nor any scaling (``s = 1`` whatever ``scaling``
says), so ``window=None`` is *not* ``window="boxcar"`` (which is divided by ``sqrt(T)`` or ``T``).

The windows are SciPy's (``scipy.signal.windows``, SciPy 1.17) re-implemented with NumPy using the same
formulas and the same operation order, so they equal ``scipy.signal.get_window`` bit for bit: every
window SciPy accepts as a bare name (without parameters; names needing parameters such as ``kaiser``
are refused by Keras too), with SciPy's aliases. Names are case-sensitive, as in SciPy.

Precision: this module computes in float64 with the angle reduced exactly (``t f mod N`` in integers),
so it is the exact formula to a few float64 ulps. Keras computes the whole kernel in float32 (its
``arange``, angle, ``cos`` and scaling are float32, even for ``dtype="float64"``), so Keras' own values
deviate from the exact ones by up to a few ``T 2^-24 max|w|/s`` absolute (the float32 error of the
angle, which grows to ``pi (T - 1)``; measured <= 3.5 ``T 2^-24 max|w|/s``, and only ~7% of Keras' float32
values equal the float32 rounding of the exact ones); e.g. Keras' ``cos(pi/2)`` is ``-4.37e-8``, not 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np

from service.core.errors import ParameterError, ShapeError

SIDES: Final[tuple[str, ...]] = ("real", "imag")
SCALINGS: Final[tuple[str, ...]] = ("density", "spectrum")

# -- windows (scipy.signal.windows, symmetric/periodic via _extend/_truncate) -------------------------------


def _general_cosine(m: int, a: tuple[float, ...]) -> np.ndarray:
    fac = np.linspace(-np.pi, np.pi, m, dtype=np.float64)
    w = np.zeros(m, dtype=np.float64)
    for k in range(len(a)):
        w += a[k] * np.cos(k * fac)
    return w


def _boxcar(m: int) -> np.ndarray:
    return np.ones(m, dtype=np.float64)


def _triang(m: int) -> np.ndarray:
    n = np.arange(1, (m + 1) // 2 + 1, dtype=np.float64)
    if m % 2 == 0:
        w = (2 * n - 1.0) / m
        return np.concatenate([w, w[::-1]])
    w = 2 * n / (m + 1.0)
    return np.concatenate([w, w[:-1][::-1]])


def _bartlett(m: int) -> np.ndarray:
    n = np.arange(0, m, dtype=np.float64)
    return np.where(n <= (m - 1) / 2.0, 2.0 * n / (m - 1), 2.0 - 2.0 * n / (m - 1))


def _cosine(m: int) -> np.ndarray:
    return np.sin(np.pi / m * (np.arange(m, dtype=np.float64) + 0.5))


def _bohman(m: int) -> np.ndarray:
    fac = abs(np.linspace(-1, 1, m, dtype=np.float64)[1:-1])
    w = (1 - fac) * np.cos(np.pi * fac) + 1.0 / np.pi * np.sin(np.pi * fac)
    zero = np.zeros(1, dtype=np.float64)
    return np.concatenate([zero, w, zero])


def _parzen(m: int) -> np.ndarray:
    n = np.arange(-(m - 1) / 2.0, (m - 1) / 2.0 + 0.5, 1.0, dtype=np.float64)
    return np.where(
        abs(n) <= (m - 1) / 4.0,
        (1 - 6 * (abs(n) / (m / 2.0)) ** 2.0 + 6 * (abs(n) / (m / 2.0)) ** 3.0),
        2 * (1 - abs(n) / (m / 2.0)) ** 3.0,
    )


def _barthann(m: int) -> np.ndarray:
    n = np.arange(0, m, dtype=np.float64)
    fac = abs(n / (m - 1.0) - 0.5)
    return 0.62 - 0.48 * fac + 0.38 * np.cos(2 * np.pi * fac)


def _tukey(m: int, alpha: float = 0.5) -> np.ndarray:
    n = np.arange(0, m, dtype=np.float64)
    width = math.floor(alpha * (m - 1) / 2.0)
    n1 = n[0 : width + 1]
    n2 = n[width + 1 : m - width - 1]
    n3 = n[m - width - 1 :]
    w1 = 0.5 * (1 + np.cos(np.pi * (-1 + 2.0 * n1 / alpha / (m - 1))))
    w2 = np.ones(n2.shape)
    w3 = 0.5 * (1 + np.cos(np.pi * (-2.0 / alpha + 1 + 2.0 * n3 / alpha / (m - 1))))
    return np.concatenate((w1, w2, w3))


def _exponential(m: int, tau: float = 1.0) -> np.ndarray:
    center = (m - 1) / 2
    n = np.arange(0, m, dtype=np.float64)
    return np.exp(-abs(n - center) / tau)


def _lanczos(m: int) -> np.ndarray:
    def right(n: float) -> np.ndarray:
        return np.sinc(2.0 * np.arange(n, m, dtype=np.float64) / (m - 1) - 1.0)

    if m % 2 == 0:
        wh = right(m / 2)
        return np.concatenate([wh[::-1], wh])
    wh = right((m + 1) / 2)
    return np.concatenate([wh[::-1], np.ones(1), wh])


def _taylor(m: int, nbar: int = 4, sll: float = 30, norm: bool = True) -> np.ndarray:
    b = np.asarray(10 ** (sll / 20))
    a = np.arccosh(b) / np.pi
    s2 = nbar**2 / (a**2 + (nbar - 0.5) ** 2)
    ma = np.arange(1, nbar, dtype=np.float64)
    fm = np.empty(nbar - 1, dtype=np.float64)
    signs = np.empty_like(ma)
    signs[::2] = 1
    signs[1::2] = -1
    m2 = ma * ma
    for mi in range(len(ma)):
        numer = signs[mi] * np.prod(1 - m2[mi] / s2 / (a**2 + (ma - 0.5) ** 2))
        denom = 2 * np.prod(1 - m2[mi] / m2[:mi]) * np.prod(1 - m2[mi] / m2[mi + 1 :])
        fm[mi] = numer / denom

    def big_w(n: np.ndarray | float) -> np.ndarray:
        return 1 + 2 * np.matmul(fm, np.cos(2 * np.pi * ma[:, np.newaxis] * (n - m / 2.0 + 0.5) / m))

    w = big_w(np.arange(m, dtype=np.float64))
    if norm:
        w *= 1.0 / big_w((m - 1) / 2)
    return w


def _cosine_sum(a: tuple[float, ...]) -> Callable[[int], np.ndarray]:
    return lambda m: _general_cosine(m, a)


# canonical name -> (symmetric window of length m >= 2, SciPy aliases)
_WINDOWS: Final[dict[str, tuple[Callable[[int], np.ndarray], tuple[str, ...]]]] = {
    "barthann": (_barthann, ("brthan", "bth")),
    "bartlett": (_bartlett, ("bart", "brt")),
    "blackman": (_cosine_sum((0.42, 0.50, 0.08)), ("black", "blk")),
    "blackmanharris": (_cosine_sum((0.35875, 0.48829, 0.14128, 0.01168)), ("blackharr", "bkh")),
    "bohman": (_bohman, ("bman", "bmn")),
    "boxcar": (_boxcar, ("box", "ones", "rect", "rectangular")),
    "cosine": (_cosine, ("halfcosine",)),
    "exponential": (_exponential, ("poisson",)),
    "flattop": (
        _cosine_sum((0.21557895, 0.41663158, 0.277263158, 0.083578947, 0.006947368)),
        ("flat", "flt"),
    ),
    "hamming": (_cosine_sum((0.54, 1.0 - 0.54)), ("hamm", "ham")),
    "hann": (_cosine_sum((0.5, 1.0 - 0.5)), ("han",)),
    "lanczos": (_lanczos, ("sinc",)),
    "nuttall": (_cosine_sum((0.3635819, 0.4891775, 0.1365995, 0.0106411)), ("nutl", "nut")),
    "parzen": (_parzen, ("parz", "par")),
    "taylor": (_taylor, ("taylorwin",)),
    "triang": (_triang, ("triangle", "tri")),
    "tukey": (_tukey, ("tuk",)),
}

WINDOWS: Final[tuple[str, ...]] = tuple(_WINDOWS)
"""The canonical window names (each also accepted under its SciPy aliases and with a
``_periodic`` / ``_symmetric`` suffix)."""

WINDOW_ALIASES: Final[dict[str, str]] = {
    alias: name for name, (_, aliases) in _WINDOWS.items() for alias in (name, *aliases)
}
"""Every accepted window name (canonical or SciPy alias, without suffix) -> its canonical name."""


def _split_window_name(window: str, periodic: bool) -> tuple[str, bool] | None:
    """(canonical name, periodic) for a window name SciPy accepts, else None."""
    name = window
    if name.endswith("_symmetric"):
        name, periodic = name[: -len("_symmetric")], False
    elif name.endswith("_periodic"):
        name, periodic = name[: -len("_periodic")], True
    canonical = WINDOW_ALIASES.get(name)
    return None if canonical is None else (canonical, periodic)


def get_window(window: str, length: int, periodic: bool) -> np.ndarray:
    """``scipy.signal.get_window(window, length, fftbins=periodic)`` for a bare window name (float64).

    >>> get_window("hann", 5, False).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    >>> get_window("hann", 4, True).tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    split = _split_window_name(window, periodic)
    if split is None:
        raise ParameterError(_unknown_window_message(window), "init.window")
    if length < 1:
        raise ShapeError(f"the window length must be >= 1, got {length}", "shape")
    name, periodic = split
    if length == 1:
        return np.ones(1, dtype=np.float64)
    build = _WINDOWS[name][0]
    if periodic:
        return build(length + 1)[:-1]
    return build(length)


def _unknown_window_message(window: object) -> str:
    return (
        f"window must be null or one of {', '.join(WINDOWS)} (SciPy aliases and the suffixes "
        f"_periodic/_symmetric accepted; windows that need parameters, such as kaiser, are not), got {window!r}"
    )


# -- checks and the kernel ----------------------------------------------------------------------------------


def check_stft(
    shape: tuple[int, ...],
    side: str = "real",
    window: str | None = "hann",
    scaling: str | None = "density",
    periodic: bool = False,
) -> None:
    """Refuse what Keras refuses (or turns into NaN): raises ``ParameterError`` / ``ShapeError``.

    Shape: rank 3 ``(T, 1, F)`` with ``T >= 1`` and ``F >= 2`` (``F = 1`` makes Keras divide 0 by 0;
    any other middle dimension makes Keras return a ``(T, 1, F)`` kernel that does not fit the shape).
    A window that is all zeros (e.g. ``hann`` of length 2, symmetric) cannot be normalised.

    >>> check_stft((8, 1, 5))
    >>> check_stft((8, 2, 5))
    Traceback (most recent call last):
    ...
    service.core.errors.ShapeError: stft needs a shape (frame_length, 1, fft_length // 2 + 1), got [8, 2, 5]
    """
    if side not in SIDES:
        raise ParameterError(f"side must be one of {', '.join(SIDES)}, got {side!r}", "init.side")
    if window is not None and (not isinstance(window, str) or _split_window_name(window, False) is None):
        raise ParameterError(_unknown_window_message(window), "init.window")
    if scaling is not None and scaling not in SCALINGS:
        raise ParameterError(f"scaling must be null or one of {', '.join(SCALINGS)}, got {scaling!r}", "init.scaling")
    if not isinstance(periodic, bool | np.bool_):
        raise ParameterError(f"periodic must be a boolean, got {periodic!r}", "init.periodic")
    shape = tuple(shape)
    if len(shape) != 3 or shape[1] != 1:
        raise ShapeError(f"stft needs a shape (frame_length, 1, fft_length // 2 + 1), got {list(shape)}", "shape")
    frame_length, _, bins = shape
    if frame_length < 1:
        raise ShapeError(f"stft needs a frame length (shape[0]) >= 1, got shape {list(shape)}", "shape")
    if bins < 2:
        raise ShapeError(
            f"stft needs at least 2 frequency bins (shape[2] = fft_length // 2 + 1 >= 2), got shape {list(shape)}",
            "shape",
        )
    if window is not None and scaling is not None and not np.any(get_window(window, frame_length, bool(periodic))):
        raise ParameterError(
            f"the {window} window of length {frame_length} (periodic={bool(periodic)}) is all zeros, so "
            f"scaling={scaling} would divide by zero; use another window, periodic, or scaling=null",
            "init.window",
        )


def stft_kernel(
    shape: tuple[int, ...],
    side: str = "real",
    window: str | None = "hann",
    scaling: str | None = "density",
    periodic: bool = False,
) -> np.ndarray:
    """The Keras 3 STFT kernel of ``shape`` ``(T, 1, F)`` as float64 (see the module docstring).

    >>> stft_kernel((4, 1, 3), window=None)[:, 0, :].tolist()
    [[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -1.0, 1.0], [1.0, 0.0, -1.0]]
    """
    check_stft(shape, side, window, scaling, periodic)
    frame_length, _, bins = shape
    n = 2 * (bins - 1)
    win = None if window is None else get_window(window, frame_length, bool(periodic))
    scale = None
    if win is not None and scaling == "density":
        scale = math.sqrt(float(np.sum(np.square(win))))
    elif win is not None and scaling == "spectrum":
        scale = float(np.sum(np.abs(win)))
    kernel = np.empty((frame_length, bins))
    columns = np.arange(bins, dtype=np.int64)[None, :]
    # Rows in blocks of about _BLOCK_ELEMENTS: the temporaries stay small (the same values elementwise).
    step = max(1, _BLOCK_ELEMENTS // bins)
    for first in range(0, frame_length, step):
        rows = slice(first, min(first + step, frame_length))
        # t f mod N in exact integers, so the angle has no rounding error growing with t f.
        k = (np.arange(rows.start, rows.stop, dtype=np.int64)[:, None] * columns) % n
        block = _unit_circle(k, n, side)
        if win is not None:
            block = block * win[rows, None]
            if scale is not None:
                block = block / scale
        kernel[rows] = block
    return kernel.reshape(frame_length, 1, bins)


#: Elements of the kernel computed at once by ``stft_kernel``.
_BLOCK_ELEMENTS = 1 << 16


def _unit_circle(k: np.ndarray, n: int, side: str) -> np.ndarray:
    """cos(2 pi k / n) (real) or -sin(2 pi k / n) (imag) for integers 0 <= k < n, exact at multiples of n/4.

    Evaluated by octant symmetry on an angle in [0, pi/4], so cos(pi/2) is exactly 0 and the two halves
    of the circle are exact mirrors.
    """
    # real part: cos(2 pi k/n); imag part: -sin(2 pi k/n) = cos(2 pi k/n + pi/2) = cos(2 pi (k + n/4)/n).
    # Work in units of n/8 with 8k to stay in integers: angle = 2 pi (8k) / (8n).
    m = 8 * n
    j = 8 * k if side == "real" else (8 * k + 2 * n) % m
    # cos(2 pi j / m) with j in [0, m): fold to [0, m/2] (cos is even), then to [0, m/4] (sign flip).
    j = np.where(j > m // 2, m - j, j)
    sign = np.where(j > m // 4, -1.0, 1.0)
    j = np.where(j > m // 4, m // 2 - j, j)
    # now j in [0, m/4], angle in [0, pi/2]; use sin of the complement above pi/4 for accuracy.
    use_sin = j > m // 8
    angle = 2.0 * np.pi * np.where(use_sin, m // 4 - j, j) / m
    return sign * np.where(use_sin, np.sin(angle), np.cos(angle))

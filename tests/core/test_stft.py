"""``service.core.stft`` against Keras 3.15.1 ``keras.initializers.STFT`` and SciPy 1.17.1 ``get_window``.

The literal values below were generated once with Keras 3.15.1 (numpy backend) and SciPy 1.17.1; the
tests import neither, but SciPy for ``taylor`` (see ``BLAS_WINDOWS``). Windows must equal SciPy's bit for
bit. Keras computes its kernel in float32
(angle, cos and scaling all float32), so its values are compared with a tolerance derived from that:
``(T + 1) 2^-21 max|w| / s`` per element (the measured worst case is 3.5 ``T 2^-24 max|w| / s``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.core.errors import ParameterError, ShapeError
from service.core.stft import WINDOW_ALIASES, WINDOWS, check_stft, get_window, stft_kernel

SCIPY_WINDOWS: dict[tuple[str, int, bool], list[float]] = {
    ("hann", 5, False): [0.0, 0.5, 1.0, 0.5, 0.0],
    ("hann", 5, True): [0.0, 0.34549150281252633, 0.9045084971874737, 0.9045084971874737, 0.34549150281252633],
    ("hann", 6, False): [0.0, 0.34549150281252633, 0.9045084971874737, 0.9045084971874737, 0.34549150281252633, 0.0],
    ("hann", 6, True): [0.0, 0.2499999999999999, 0.75, 1.0, 0.7500000000000002, 0.25000000000000033],
    ("hamming", 5, False): [0.08000000000000007, 0.54, 1.0, 0.54, 0.08000000000000007],
    ("hamming", 5, True): [
        0.08000000000000007,
        0.3978521825875243,
        0.9121478174124759,
        0.9121478174124759,
        0.3978521825875243,
    ],
    ("hamming", 6, False): [
        0.08000000000000007,
        0.3978521825875243,
        0.9121478174124759,
        0.9121478174124759,
        0.3978521825875243,
        0.08000000000000007,
    ],
    ("hamming", 6, True): [
        0.08000000000000007,
        0.30999999999999994,
        0.77,
        1.0,
        0.7700000000000002,
        0.31000000000000033,
    ],
    ("blackman", 5, False): [-1.3877787807814457e-17, 0.34, 0.9999999999999999, 0.34, -1.3877787807814457e-17],
    ("blackman", 5, True): [
        -1.3877787807814457e-17,
        0.2007701432625305,
        0.8492298567374694,
        0.8492298567374694,
        0.2007701432625305,
    ],
    ("blackman", 6, False): [
        -1.3877787807814457e-17,
        0.2007701432625305,
        0.8492298567374694,
        0.8492298567374694,
        0.2007701432625305,
        -1.3877787807814457e-17,
    ],
    ("blackman", 6, True): [
        -1.3877787807814457e-17,
        0.1299999999999999,
        0.6299999999999999,
        0.9999999999999999,
        0.6300000000000002,
        0.1300000000000002,
    ],
    ("bartlett", 5, False): [0.0, 0.5, 1.0, 0.5, 0.0],
    ("bartlett", 5, True): [0.0, 0.4, 0.8, 0.8, 0.3999999999999999],
    ("bartlett", 6, False): [0.0, 0.4, 0.8, 0.8, 0.3999999999999999, 0.0],
    ("bartlett", 6, True): [0.0, 0.3333333333333333, 0.6666666666666666, 1.0, 0.6666666666666667, 0.33333333333333326],
    ("boxcar", 5, False): [1.0, 1.0, 1.0, 1.0, 1.0],
    ("boxcar", 5, True): [1.0, 1.0, 1.0, 1.0, 1.0],
    ("boxcar", 6, False): [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    ("boxcar", 6, True): [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    ("triang", 5, False): [0.3333333333333333, 0.6666666666666666, 1.0, 0.6666666666666666, 0.3333333333333333],
    ("triang", 5, True): [0.16666666666666666, 0.5, 0.8333333333333334, 0.8333333333333334, 0.5],
    ("triang", 6, False): [0.16666666666666666, 0.5, 0.8333333333333334, 0.8333333333333334, 0.5, 0.16666666666666666],
    ("triang", 6, True): [0.25, 0.5, 0.75, 1.0, 0.75, 0.5],
    ("cosine", 5, False): [0.3090169943749474, 0.8090169943749475, 1.0, 0.8090169943749475, 0.3090169943749475],
    ("cosine", 5, True): [
        0.25881904510252074,
        0.7071067811865475,
        0.9659258262890682,
        0.9659258262890683,
        0.7071067811865476,
    ],
    ("cosine", 6, False): [
        0.25881904510252074,
        0.7071067811865475,
        0.9659258262890682,
        0.9659258262890683,
        0.7071067811865476,
        0.258819045102521,
    ],
    ("cosine", 6, True): [
        0.2225209339563144,
        0.6234898018587335,
        0.9009688679024191,
        1.0,
        0.9009688679024191,
        0.6234898018587336,
    ],
    ("blackmanharris", 5, False): [
        6.0000000000001025e-05,
        0.21747000000000008,
        1.0,
        0.21747000000000008,
        6.0000000000001025e-05,
    ],
    ("blackmanharris", 5, True): [
        6.0000000000001025e-05,
        0.10301148934566379,
        0.7938335106543363,
        0.7938335106543363,
        0.10301148934566379,
    ],
    ("blackmanharris", 6, False): [
        6.0000000000001025e-05,
        0.10301148934566379,
        0.7938335106543363,
        0.7938335106543363,
        0.10301148934566379,
        6.0000000000001025e-05,
    ],
    ("blackmanharris", 6, True): [
        6.0000000000001025e-05,
        0.05564499999999996,
        0.5205749999999999,
        1.0,
        0.5205750000000002,
        0.05564500000000015,
    ],
    ("nuttall", 5, False): [
        0.0003628000000000381,
        0.22698240000000006,
        1.0,
        0.22698240000000006,
        0.0003628000000000381,
    ],
    ("nuttall", 5, True): [
        0.0003628000000000381,
        0.11051525304987181,
        0.7982580969501283,
        0.7982580969501283,
        0.11051525304987181,
    ],
    ("nuttall", 6, False): [
        0.0003628000000000381,
        0.11051525304987181,
        0.7982580969501283,
        0.7982580969501283,
        0.11051525304987181,
        0.0003628000000000381,
    ],
    ("nuttall", 6, True): [
        0.0003628000000000381,
        0.06133449999999996,
        0.5292298,
        1.0,
        0.5292298000000003,
        0.06133450000000015,
    ],
    ("flattop", 5, False): [-0.0004210510000000013, -0.05473684, 1.000000003, -0.05473684, -0.0004210510000000013],
    ("flattop", 5, True): [
        -0.0004210510000000013,
        -0.06771425207621193,
        0.606872152576212,
        0.606872152576212,
        -0.06771425207621193,
    ],
    ("flattop", 6, False): [
        -0.0004210510000000013,
        -0.06771425207621193,
        0.606872152576212,
        0.606872152576212,
        -0.06771425207621193,
        -0.0004210510000000013,
    ],
    ("flattop", 6, True): [
        -0.0004210510000000013,
        -0.05126315599999999,
        0.19821052999999986,
        1.000000003,
        0.1982105300000003,
        -0.05126315600000008,
    ],
    ("bohman", 5, False): [0.0, 0.31830988618379075, 1.0, 0.31830988618379075, 0.0],
    ("bohman", 5, True): [0.0, 0.1791238937062839, 0.8343114522576858, 0.8343114522576855, 0.1791238937062838],
    ("bohman", 6, False): [0.0, 0.1791238937062839, 0.8343114522576858, 0.8343114522576855, 0.1791238937062838, 0.0],
    ("bohman", 6, True): [0.0, 0.10899778104422927, 0.6089977810442293, 1.0, 0.6089977810442295, 0.10899778104422961],
    ("parzen", 5, False): [0.01599999999999999, 0.42399999999999993, 1.0, 0.42399999999999993, 0.01599999999999999],
    ("parzen", 5, True): [0.009259259259259254, 0.25, 0.8611111111111112, 0.8611111111111112, 0.25],
    ("parzen", 6, False): [
        0.009259259259259254,
        0.25,
        0.8611111111111112,
        0.8611111111111112,
        0.25,
        0.009259259259259254,
    ],
    ("parzen", 6, True): [
        0.0058309037900874695,
        0.15743440233236156,
        0.6501457725947521,
        1.0,
        0.6501457725947521,
        0.15743440233236156,
    ],
    ("barthann", 5, False): [0.0, 0.5, 1.0, 0.5, 0.0],
    ("barthann", 5, True): [0.0, 0.35857354213752, 0.8794264578624801, 0.8794264578624801, 0.3585735421375199],
    ("barthann", 6, False): [0.0, 0.35857354213752, 0.8794264578624801, 0.8794264578624801, 0.3585735421375199, 0.0],
    ("barthann", 6, True): [0.0, 0.2699999999999999, 0.73, 1.0, 0.7300000000000002, 0.2699999999999999],
    ("tukey", 5, False): [0.0, 1.0, 1.0, 1.0, 0.0],
    ("tukey", 5, True): [0.0, 0.9045084971874737, 1.0, 1.0, 0.9045084971874735],
    ("tukey", 6, False): [0.0, 0.9045084971874737, 1.0, 1.0, 0.9045084971874735, 0.0],
    ("tukey", 6, True): [0.0, 0.75, 1.0, 1.0, 1.0, 0.7499999999999999],
    ("exponential", 5, False): [0.1353352832366127, 0.36787944117144233, 1.0, 0.36787944117144233, 0.1353352832366127],
    ("exponential", 5, True): [
        0.0820849986238988,
        0.22313016014842982,
        0.6065306597126334,
        0.6065306597126334,
        0.22313016014842982,
    ],
    ("exponential", 6, False): [
        0.0820849986238988,
        0.22313016014842982,
        0.6065306597126334,
        0.6065306597126334,
        0.22313016014842982,
        0.0820849986238988,
    ],
    ("exponential", 6, True): [
        0.049787068367863944,
        0.1353352832366127,
        0.36787944117144233,
        1.0,
        0.36787944117144233,
        0.1353352832366127,
    ],
    ("lanczos", 5, False): [
        3.8981718325193755e-17,
        0.6366197723675814,
        1.0,
        0.6366197723675814,
        3.8981718325193755e-17,
    ],
    ("lanczos", 5, True): [
        3.8981718325193755e-17,
        0.5045511524271046,
        0.935489283788639,
        0.935489283788639,
        0.5045511524271046,
    ],
    ("lanczos", 6, False): [
        3.8981718325193755e-17,
        0.5045511524271046,
        0.935489283788639,
        0.935489283788639,
        0.5045511524271046,
        3.8981718325193755e-17,
    ],
    ("lanczos", 6, True): [
        3.8981718325193755e-17,
        0.4134966715663439,
        0.8269933431326882,
        1.0,
        0.8269933431326882,
        0.4134966715663439,
    ],
    ("taylor", 5, False): [0.33249694817359937, 0.7720145794704376, 1.0, 0.7720145794704376, 0.33249694817359937],
    ("taylor", 5, True): [
        0.30634692730740803,
        0.6620647789400378,
        0.9570021269253987,
        0.9570021269253987,
        0.6620647789400378,
    ],
    ("taylor", 6, False): [
        0.30634692730740803,
        0.6620647789400378,
        0.9570021269253987,
        0.9570021269253987,
        0.6620647789400378,
        0.306346927307408,
    ],
    ("taylor", 6, True): [
        0.29009531272714734,
        0.5782126011092212,
        0.8780082248652833,
        1.0,
        0.8780082248652833,
        0.5782126011092212,
    ],
}
# Keras float32 values, shortest float32 repr, rows t = 0..7 of kernel[:, 0, :]
KERAS_8_1_5: dict[tuple[str, str | None, str | None, bool], list[list[float]]] = {
    ("real", "hann", "density", False): [
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.11619357, 0.08216126, -5.0789826e-09, -0.08216126, -0.11619357],
        [0.37727815, -1.6491352e-08, -0.37727815, 4.498997e-09, 0.37727815],
        [0.58665174, -0.41482544, 6.995752e-09, 0.41482544, -0.58665174],
        [0.58665174, -0.58665174, 0.58665174, -0.58665174, 0.58665174],
        [0.37727815, -0.2667759, -1.2743183e-07, 0.26677594, -0.37727815],
        [0.11619357, 1.3855945e-09, -0.11619357, -4.1567834e-09, 0.11619357],
        [0.0, 0.0, 0.0, -0.0, -0.0],
    ],
    ("imag", "hann", "density", False): [
        [-0.0, -0.0, -0.0, -0.0, -0.0],
        [-0.0, -0.08216126, -0.11619357, -0.08216126, 1.0157965e-08],
        [-0.0, -0.37727815, 3.2982705e-08, 0.37727815, -6.596541e-08],
        [-0.0, -0.41482544, 0.58665174, -0.41482544, 1.3991504e-08],
        [-0.0, 5.1286722e-08, -1.02573445e-07, 1.3991504e-08, -2.0514689e-07],
        [-0.0, 0.266776, -0.37727815, 0.26677594, 2.5486366e-07],
        [-0.0, 0.11619357, 2.771189e-09, -0.11619357, -5.542378e-09],
        [-0.0, 0.0, 0.0, 0.0, 0.0],
    ],
    ("real", "hamming", "spectrum", True): [
        [0.018518517, 0.018518517, 0.018518517, 0.018518517, 0.018518517],
        [0.04970622, 0.035147604, -2.1727278e-09, -0.035147604, -0.04970622],
        [0.125, -5.4639235e-09, -0.125, 1.4906101e-09, 0.125],
        [0.20029376, -0.14162907, 2.3884792e-09, 0.14162907, -0.20029376],
        [0.23148148, -0.23148148, 0.23148148, -0.23148148, 0.23148148],
        [0.20029376, -0.14162906, -6.765247e-08, 0.14162907, -0.20029376],
        [0.125, 1.4906101e-09, -0.125, -4.47183e-09, 0.125],
        [0.04970622, 0.035147615, 3.2985422e-08, -0.03514757, -0.04970622],
    ],
    ("imag", None, "density", False): [
        [-0.0, -0.0, -0.0, -0.0, -0.0],
        [-0.0, -0.70710677, -1.0, -0.70710677, 8.742278e-08],
        [-0.0, -1.0, 8.742278e-08, 1.0, -1.7484555e-07],
        [-0.0, -0.70710677, 1.0, -0.70710677, 2.3849761e-08],
        [-0.0, 8.742278e-08, -1.7484555e-07, 2.3849761e-08, -3.496911e-07],
        [-0.0, 0.7071069, -1.0, 0.70710677, 6.755325e-07],
        [-0.0, 1.0, 2.3849761e-08, -1.0, -4.7699523e-08],
        [-0.0, 0.70710653, 1.0, 0.7071075, 1.3272152e-06],
    ],
}
# (sum, sum of |x|, sum of x * (index + 1) / size) of the Keras float32 kernel, to 10 significant digits
KERAS_CHECKSUMS: dict[tuple, tuple[float, float, float]] = {
    ((16, 1, 9), "real", "hann", "density", False): (1.581138363, 19.75467395, 0.742561615),
    ((16, 1, 9), "real", "hann", "density", True): (1.632992557, 20.31697147, 0.8164961607),
    ((16, 1, 9), "real", "hann", "spectrum", False): (0.4999998568, 6.24697624, 0.2348186048),
    ((16, 1, 9), "real", "hann", "spectrum", True): (0.4999998425, 6.220776884, 0.2499998831),
    ((16, 1, 9), "real", "hann", None, False): (3.74999874, 46.8523214, 1.761139438),
    ((16, 1, 9), "real", "hann", None, True): (3.99999874, 49.76621507, 1.999999065),
    ((16, 1, 9), "real", "hamming", "density", False): (1.936281356, 20.90477347, 0.7815280461),
    ((16, 1, 9), "real", "hamming", "density", True): (1.967014727, 21.31495542, 0.8442651536),
    ((16, 1, 9), "real", "hamming", "spectrum", False): (0.5782394572, 6.242876357, 0.2333908508),
    ((16, 1, 9), "real", "hamming", "spectrum", True): (0.5740739412, 6.2207773, 0.2463990852),
    ((16, 1, 9), "real", "hamming", None, False): (4.729998931, 51.06673028, 1.909137252),
    ((16, 1, 9), "real", "hamming", None, True): (4.959998532, 53.74751238, 2.128887919),
    ((16, 1, 9), "real", "blackman", "density", False): (1.473668726, 18.69824805, 0.693388985),
    ((16, 1, 9), "real", "blackman", "density", True): (1.521998352, 19.22593468, 0.763012287),
    ((16, 1, 9), "real", "blackman", "spectrum", False): (0.4999998568, 6.344113362, 0.2352593808),
    ((16, 1, 9), "real", "blackman", "spectrum", True): (0.4999998293, 6.316014712, 0.2506612535),
    ((16, 1, 9), "real", "blackman", None, False): (3.149999204, 39.96791596, 1.482134143),
    ((16, 1, 9), "real", "blackman", None, True): (3.359999006, 42.44362047, 1.6844437),
    ((16, 1, 9), "real", "bartlett", "density", False): (1.673319584, 20.81870199, 0.7891398155),
    ((16, 1, 9), "real", "bartlett", "density", True): (1.725323828, 21.46571561, 0.8557339583),
    ((16, 1, 9), "real", "bartlett", "spectrum", False): (0.4999997881, 6.220776551, 0.2358005833),
    ((16, 1, 9), "real", "bartlett", "spectrum", True): (0.4999998487, 6.22077687, 0.2479922013),
    ((16, 1, 9), "real", "bartlett", None, False): (3.733332237, 46.4484684, 1.760644603),
    ((16, 1, 9), "real", "bartlett", None, True): (3.99999879, 49.76621496, 1.98393761),
    ((16, 1, 9), "real", "boxcar", "density", False): (3.999999883, 24.88310712, 0.9027778287),
    ((16, 1, 9), "real", "boxcar", "density", True): (3.999999883, 24.88310712, 0.9027778287),
    ((16, 1, 9), "real", "boxcar", "spectrum", False): (0.9999999707, 6.220776781, 0.2256944572),
    ((16, 1, 9), "real", "boxcar", "spectrum", True): (0.9999999707, 6.220776781, 0.2256944572),
    ((16, 1, 9), "real", "boxcar", None, False): (15.99999953, 99.53242849, 3.611111315),
    ((16, 1, 9), "real", "boxcar", None, True): (15.99999953, 99.53242849, 3.611111315),
    ((16, 1, 9), "real", None, "density", False): (15.99999953, 99.53242849, 3.611111315),
    ((16, 1, 9), "imag", "hann", "density", False): (-0.2680483857, 13.25615798, 0.08285227226),
    ((16, 1, 9), "imag", "hann", "density", True): (1.712876583e-06, 13.78500222, 0.2667020858),
    ((16, 1, 9), "imag", "hann", "spectrum", False): (-0.08476433195, 4.191965077, 0.0262001921),
    ((16, 1, 9), "imag", "hann", "spectrum", True): (5.287108206e-07, 4.220777837, 0.0816605097),
    ((16, 1, 9), "imag", "hann", None, False): (-0.6357324835, 31.43973803, 0.19650143),
    ((16, 1, 9), "imag", "hann", None, True): (4.229686565e-06, 33.76622269, 0.6532840776),
    ((16, 1, 9), "imag", "hamming", "density", False): (-0.2394248391, 14.05222923, 0.2577180093),
    ((16, 1, 9), "imag", "hamming", "density", True): (1.754046109e-06, 14.46213129, 0.4163252636),
    ((16, 1, 9), "imag", "hamming", "spectrum", False): (-0.07150037814, 4.196473525, 0.07696337317),
    ((16, 1, 9), "imag", "hamming", "spectrum", True): (5.168504497e-07, 4.220778158, 0.1215046805),
    ((16, 1, 9), "imag", "hamming", None, False): (-0.5848732082, 34.32715485, 0.6295603656),
    ((16, 1, 9), "imag", "hamming", None, True): (4.489578489e-06, 36.46752067, 1.04980038),
    ((16, 1, 9), "imag", "blackman", "density", False): (-0.2121584074, 12.07503994, 0.04084349994),
    ((16, 1, 9), "imag", "blackman", "density", True): (1.538801394e-06, 12.55813348, 0.1756028344),
    ((16, 1, 9), "imag", "blackman", "spectrum", False): (-0.07198307392, 4.096930547, 0.01385774469),
    ((16, 1, 9), "imag", "blackman", "spectrum", True): (5.164052446e-07, 4.125539587, 0.05768823261),
    ((16, 1, 9), "imag", "blackman", None, False): (-0.453493275, 25.81066326, 0.08730385715),
    ((16, 1, 9), "imag", "blackman", None, True): (3.440366561e-06, 27.72362734, 0.3876649263),
    ((16, 1, 9), "imag", "bartlett", "density", False): (-0.4416974139, 14.1254249, 0.1184043995),
    ((16, 1, 9), "imag", "bartlett", "density", True): (1.817392768e-06, 14.56442168, 0.465404223),
    ((16, 1, 9), "imag", "bartlett", "spectrum", False): (-0.1319823303, 4.22077764, 0.03538007519),
    ((16, 1, 9), "imag", "bartlett", "spectrum", True): (5.208318832e-07, 4.220777884, 0.1348744127),
    ((16, 1, 9), "imag", "bartlett", None, False): (-0.985468058, 31.5151421, 0.2641713105),
    ((16, 1, 9), "imag", "bartlett", None, True): (4.166655065e-06, 33.76622307, 1.078995301),
    ((16, 1, 9), "imag", "boxcar", "density", False): (2.254569353e-06, 16.8831113, 1.402434597),
    ((16, 1, 9), "imag", "boxcar", "density", True): (2.254569353e-06, 16.8831113, 1.402434597),
    ((16, 1, 9), "imag", "boxcar", "spectrum", False): (5.636423384e-07, 4.220777825, 0.3506086493),
    ((16, 1, 9), "imag", "boxcar", "spectrum", True): (5.636423384e-07, 4.220777825, 0.3506086493),
    ((16, 1, 9), "imag", "boxcar", None, False): (9.018277414e-06, 67.53244521, 5.609738389),
    ((16, 1, 9), "imag", "boxcar", None, True): (9.018277414e-06, 67.53244521, 5.609738389),
    ((16, 1, 9), "imag", None, "density", False): (9.018277414e-06, 67.53244521, 5.609738389),
    ((7, 1, 4), "real", "hann", "density", False): (1.000000082, 6.666666768, 0.4285715041),
    ((7, 1, 4), "real", "hann", "density", True): (1.428704426, 7.183586061, 0.8653767149),
    ((7, 1, 4), "real", "hann", "spectrum", False): (0.500000041, 3.333333384, 0.2142857521),
    ((7, 1, 4), "real", "hann", "spectrum", True): (0.6613616515, 3.325354213, 0.4005915786),
    ((7, 1, 4), "real", "hann", None, False): (1.500000097, 10.00000004, 0.6428572498),
    ((7, 1, 4), "real", "hann", None, True): (2.314765759, 11.63873965, 1.40207053),
    ((7, 1, 4), "real", "hamming", "density", False): (1.409888849, 7.191726267, 0.633803295),
    ((7, 1, 4), "real", "hamming", "density", True): (1.75647945, 7.57110443, 1.006357467),
    ((7, 1, 4), "real", "hamming", "spectrum", False): (0.656626571, 3.349397887, 0.2951807766),
    ((7, 1, 4), "real", "hamming", "spectrum", True): (0.775022313, 3.340645306, 0.4440413321),
    ((7, 1, 4), "real", "hamming", None, False): (2.180000097, 11.11999989, 0.980000126),
    ((7, 1, 4), "real", "hamming", None, True): (2.929584473, 12.62764001, 1.678476327),
    ((7, 1, 4), "real", "blackman", "density", False): (0.93203016, 6.331887294, 0.4057818563),
    ((7, 1, 4), "real", "blackman", "density", True): (1.192544976, 6.732489025, 0.6768070443),
    ((7, 1, 4), "real", "blackman", "spectrum", False): (0.5000000112, 3.396825418, 0.2176870889),
    ((7, 1, 4), "real", "blackman", "spectrum", True): (0.5922995033, 3.343815186, 0.3361487269),
    ((7, 1, 4), "real", "blackman", None, False): (1.260000035, 8.559999958, 0.5485714679),
    ((7, 1, 4), "real", "blackman", None, True): (1.741360568, 9.830816828, 0.9882772725),
    ((7, 1, 4), "real", "bartlett", "density", False): (0.9176631644, 6.882472135, 0.3687040337),
    ((7, 1, 4), "real", "bartlett", "density", True): (1.700840563, 7.559289828, 1.120395026),
    ((7, 1, 4), "real", "bartlett", "spectrum", False): (0.4444445111, 3.333333392, 0.1785714919),
    ((7, 1, 4), "real", "bartlett", "spectrum", True): (0.7500000969, 3.33333309, 0.4940477076),
    ((7, 1, 4), "real", "bartlett", None, False): (1.333333611, 10.00000012, 0.5357145124),
    ((7, 1, 4), "real", "bartlett", None, True): (2.571429104, 11.42857161, 1.69387799),
    ((7, 1, 4), "real", "boxcar", "density", False): (3.779645279, 9.071147785, 1.835827818),
    ((7, 1, 4), "real", "boxcar", "density", True): (3.779645279, 9.071147785, 1.835827818),
    ((7, 1, 4), "real", "boxcar", "spectrum", False): (1.428571604, 3.42857153, 0.69387768),
    ((7, 1, 4), "real", "boxcar", "spectrum", True): (1.428571604, 3.42857153, 0.69387768),
    ((7, 1, 4), "real", "boxcar", None, False): (10.00000075, 23.99999979, 4.857143518),
    ((7, 1, 4), "real", "boxcar", None, True): (10.00000075, 23.99999979, 4.857143518),
    ((7, 1, 4), "real", None, "density", False): (10.00000075, 23.99999979, 4.857143518),
    ((7, 1, 4), "imag", "hann", "density", False): (-2.847950054e-08, 2.309401675, 0.1649572368),
    ((7, 1, 4), "imag", "hann", "density", True): (0.452211896, 2.524294461, 0.4719105716),
    ((7, 1, 4), "imag", "hann", "spectrum", False): (-1.423975027e-08, 1.154700838, 0.0824786184),
    ((7, 1, 4), "imag", "hann", "spectrum", True): (0.2093334323, 1.16852128, 0.2184521505),
    ((7, 1, 4), "imag", "hann", None, False): (-4.271925746e-08, 3.464102498, 0.2474358459),
    ((7, 1, 4), "imag", "hann", None, True): (0.7326669552, 4.08982445, 0.7645824803),
    ((7, 1, 4), "imag", "hamming", "density", False): (-1.50583841e-08, 2.419595945, 0.1984324505),
    ((7, 1, 4), "imag", "hamming", "density", True): (0.4041395952, 2.588263633, 0.4692175778),
    ((7, 1, 4), "imag", "hamming", "spectrum", False): (-1.629689828e-08, 1.126876818, 0.09241580517),
    ((7, 1, 4), "imag", "hamming", "spectrum", True): (0.1783210155, 1.142035591, 0.2070357761),
    ((7, 1, 4), "imag", "hamming", None, False): (-8.508122207e-09, 3.741230715, 0.3068204711),
    ((7, 1, 4), "imag", "hamming", None, True): (0.6740534585, 4.316894793, 0.7825952666),
    ((7, 1, 4), "imag", "blackman", "density", False): (-1.361437931e-07, 1.947438479, 0.09517547398),
    ((7, 1, 4), "imag", "blackman", "density", True): (0.4373756434, 2.288338186, 0.4030043956),
    ((7, 1, 4), "imag", "blackman", "spectrum", False): (-9.092571895e-08, 1.044729319, 0.05105814121),
    ((7, 1, 4), "imag", "blackman", "spectrum", True): (0.2172307121, 1.136545522, 0.2001595933),
    ((7, 1, 4), "imag", "blackman", None, False): (-2.054399637e-07, 2.632717893, 0.1286665302),
    ((7, 1, 4), "imag", "blackman", None, True): (0.6386583144, 3.341443933, 0.5884692248),
    ((7, 1, 4), "imag", "bartlett", "density", False): (5.451883389e-08, 2.384158881, 0.2270627684),
    ((7, 1, 4), "imag", "bartlett", "density", True): (0.3273269061, 2.618615689, 0.4442293776),
    ((7, 1, 4), "imag", "bartlett", "spectrum", False): (2.152390444e-08, 1.154700874, 0.1099715168),
    ((7, 1, 4), "imag", "bartlett", "spectrum", True): (0.144337564, 1.154700844, 0.1958867081),
    ((7, 1, 4), "imag", "bartlett", None, False): (7.947287806e-08, 3.464102622, 0.3299145535),
    ((7, 1, 4), "imag", "bartlett", None, True): (0.4948717823, 3.958974672, 0.6716116848),
    ((7, 1, 4), "imag", "boxcar", "density", False): (-1.187947518e-09, 2.618615634, 0.3740878158),
    ((7, 1, 4), "imag", "boxcar", "density", True): (-1.187947518e-09, 2.618615634, 0.3740878158),
    ((7, 1, 4), "imag", "boxcar", "spectrum", False): (2.834561474e-09, 0.9897436436, 0.1413919031),
    ((7, 1, 4), "imag", "boxcar", "spectrum", True): (2.834561474e-09, 0.9897436436, 0.1413919031),
    ((7, 1, 4), "imag", "boxcar", None, False): (1.984190945e-08, 6.92820555, 0.9897433286),
    ((7, 1, 4), "imag", "boxcar", None, True): (1.984190945e-08, 6.92820555, 0.9897433286),
    ((7, 1, 4), "imag", None, "density", False): (1.984190945e-08, 6.92820555, 0.9897433286),
}


def _scale(window: str | None, scaling: str | None, frame_length: int, periodic: bool) -> float:
    """max|w| / s: the size of the kernel's largest element."""
    if window is None:
        return 1.0
    w = get_window(window, frame_length, periodic)
    s = {"density": math.sqrt(float(np.sum(w * w))), "spectrum": float(np.sum(np.abs(w))), None: 1.0}[scaling]
    return float(np.max(np.abs(w))) / s


def _keras_atol(shape: tuple[int, int, int], window: str | None, scaling: str | None, periodic: bool) -> float:
    return (shape[0] + 1) * 2.0**-21 * _scale(window, scaling, shape[0], periodic)


# -- windows ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(SCIPY_WINDOWS))
def test_windows_equal_scipy_bit_for_bit(key: tuple[str, int, bool]) -> None:
    name, length, periodic = key
    w = get_window(name, length, periodic)
    assert w.dtype == np.float64
    if name in BLAS_WINDOWS:
        # SciPy's taylor sums its cosine terms with np.matmul, whose last bits are the BLAS kernel's and so
        # the CPU's (the pinned values came from an AVX-512 machine): compared with SciPy on this machine.
        scipy_signal = pytest.importorskip("scipy.signal")
        assert w.tolist() == scipy_signal.get_window(name, length, fftbins=periodic).tolist()
    else:
        assert w.tolist() == SCIPY_WINDOWS[key]


#: Windows that SciPy (and ``get_window``) compute with a BLAS call: equal to SciPy's on the same machine.
BLAS_WINDOWS = frozenset({"taylor"})


def test_every_canonical_window_is_pinned() -> None:
    assert {name for name, _, _ in SCIPY_WINDOWS} == set(WINDOWS)
    assert len(WINDOWS) == 17


def test_aliases_and_suffixes_follow_scipy() -> None:
    assert WINDOW_ALIASES["han"] == "hann" and WINDOW_ALIASES["rect"] == "boxcar"
    assert WINDOW_ALIASES["triangle"] == "triang" and WINDOW_ALIASES["sinc"] == "lanczos"
    for alias, name in WINDOW_ALIASES.items():
        assert get_window(alias, 6, True).tolist() == get_window(name, 6, True).tolist()
    # the suffix overrides `periodic`, as scipy.signal.get_window does
    assert get_window("hann_periodic", 5, False).tolist() == SCIPY_WINDOWS[("hann", 5, True)]
    assert get_window("hann_symmetric", 5, True).tolist() == SCIPY_WINDOWS[("hann", 5, False)]


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_of_length_one_are_one(name: str) -> None:
    for periodic in (False, True):
        assert get_window(name, 1, periodic).tolist() == [1.0]


@pytest.mark.parametrize("name", WINDOWS)
def test_periodic_window_is_the_symmetric_one_of_length_plus_one_truncated(name: str) -> None:
    for length in (2, 7, 16, 33):
        assert get_window(name, length, True).tolist() == get_window(name, length + 1, False)[:-1].tolist()


# -- kernels against Keras -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", list(KERAS_8_1_5))
def test_kernel_matches_keras_values(args: tuple) -> None:
    side, window, scaling, periodic = args
    ours = stft_kernel((8, 1, 5), side, window, scaling, periodic)
    assert ours.shape == (8, 1, 5) and ours.dtype == np.float64
    keras = np.asarray(KERAS_8_1_5[args], dtype=np.float32).astype(np.float64)
    np.testing.assert_allclose(ours[:, 0, :], keras, rtol=0, atol=_keras_atol((8, 1, 5), window, scaling, periodic))


@pytest.mark.parametrize("key", list(KERAS_CHECKSUMS))
def test_kernel_matches_keras_checksums(key: tuple) -> None:
    shape, side, window, scaling, periodic = key
    ours = stft_kernel(shape, side, window, scaling, periodic)
    size = math.prod(shape)
    weights = np.arange(1, size + 1, dtype=np.float64).reshape(shape) / size
    got = (float(ours.sum()), float(np.abs(ours).sum()), float((ours * weights).sum()))
    atol = size * _keras_atol(shape, window, scaling, periodic)
    for ours_sum, keras_sum in zip(got, KERAS_CHECKSUMS[key], strict=True):
        assert abs(ours_sum - keras_sum) <= atol, (ours_sum, keras_sum, atol)


# -- the formula itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 1, 5), (16, 1, 9), (400, 1, 257), (513, 1, 2), (3, 1, 1025)])
def test_kernel_is_the_dft_basis_to_float64_precision(shape: tuple[int, int, int]) -> None:
    frame_length, _, bins = shape
    n = 2 * (bins - 1)
    t = np.arange(frame_length)[:, None]
    f = np.arange(bins)[None, :]
    angle = 2 * np.pi * ((t * f) % n) / n
    np.testing.assert_allclose(stft_kernel(shape, "real", None, None, False)[:, 0, :], np.cos(angle), atol=1e-15)
    np.testing.assert_allclose(stft_kernel(shape, "imag", None, None, False)[:, 0, :], -np.sin(angle), atol=1e-15)


def test_quarter_turns_are_exact() -> None:
    real = stft_kernel((4, 1, 3), "real", None, None, False)[:, 0, :]
    imag = stft_kernel((4, 1, 3), "imag", None, None, False)[:, 0, :]
    assert real.tolist() == [[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -1.0, 1.0], [1.0, 0.0, -1.0]]
    assert imag.tolist() == [[0.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_window_and_scaling() -> None:
    shape = (16, 1, 9)
    bare = stft_kernel(shape, "real", None, "density", False)
    # window=None: no window and no scaling, whatever `scaling` says
    for scaling in ("density", "spectrum", None):
        assert np.array_equal(stft_kernel(shape, "real", None, scaling, True), bare)
    # boxcar is not None: it is normalised
    np.testing.assert_allclose(stft_kernel(shape, "real", "boxcar", "density", False), bare / 4.0, rtol=1e-15)
    np.testing.assert_allclose(stft_kernel(shape, "real", "boxcar", "spectrum", False), bare / 16.0, rtol=1e-15)
    np.testing.assert_array_equal(stft_kernel(shape, "real", "boxcar", None, False), bare)
    w = get_window("hamming", 16, True)
    np.testing.assert_allclose(
        stft_kernel(shape, "imag", "hamming", "density", True),
        stft_kernel(shape, "imag", None, None, False) * w[:, None, None] / np.sqrt(np.sum(w * w)),
        rtol=1e-15,
        atol=1e-17,
    )
    np.testing.assert_allclose(
        stft_kernel(shape, "imag", "hamming", "spectrum", True),
        stft_kernel(shape, "imag", None, None, False) * w[:, None, None] / np.sum(w),
        rtol=1e-15,
        atol=1e-17,
    )


def test_density_columns_have_unit_norm_at_dc() -> None:
    k = stft_kernel((32, 1, 17), "real", "hann", "density", False)
    assert math.isclose(float(np.sum(k[:, 0, 0] ** 2)), 1.0, rel_tol=1e-14)
    k = stft_kernel((32, 1, 17), "real", "hann", "spectrum", True)
    assert math.isclose(float(np.sum(k[:, 0, 0])), 1.0, rel_tol=1e-14)


def test_frame_length_one() -> None:
    assert stft_kernel((1, 1, 3), "real", "hann", "density", False).tolist() == [[[1.0, 1.0, 1.0]]]


# -- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [(8, 5), (8, 1, 5, 1), (), (8, 2, 5), (8, 0, 5), (0, 1, 5), (8, 1, 1), (8, 1, 0)],
)
def test_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError) as info:
        check_stft(shape, "real", "hann", "density", False)
    assert info.value.field == "shape"
    with pytest.raises(ShapeError):
        stft_kernel(shape, "real", None, None, False)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"side": "complex"}, "init.side"),
        ({"side": "Real"}, "init.side"),
        ({"window": "Hann"}, "init.window"),
        ({"window": "kaiser"}, "init.window"),
        ({"window": "gaussian"}, "init.window"),
        ({"window": "hann_periodic_periodic"}, "init.window"),
        ({"window": ""}, "init.window"),
        ({"window": 4.0}, "init.window"),
        ({"scaling": "power"}, "init.scaling"),
        ({"scaling": "none"}, "init.scaling"),
        ({"periodic": 1}, "init.periodic"),
        ({"periodic": "true"}, "init.periodic"),
    ],
)
def test_bad_parameters(kwargs: dict, field: str) -> None:
    params = {"side": "real", "window": "hann", "scaling": "density", "periodic": False, **kwargs}
    with pytest.raises(ParameterError) as info:
        check_stft((8, 1, 5), **params)
    assert info.value.field == field
    if field == "init.window":
        assert "hann" in info.value.message and "kaiser" in info.value.message


def test_all_zero_window_cannot_be_normalised() -> None:
    # Keras returns NaN (0/0) for these; scaling=None or a periodic window is fine
    for window in ("hann", "bartlett", "bohman", "barthann", "tukey"):
        with pytest.raises(ParameterError) as info:
            check_stft((2, 1, 5), "real", window, "density", False)
        assert info.value.field == "init.window"
        check_stft((2, 1, 5), "real", window, None, False)
        check_stft((2, 1, 5), "real", window, "spectrum", True)
    assert not np.any(stft_kernel((2, 1, 5), "real", "hann", None, False))


def test_valid_parameters_pass() -> None:
    for side in ("real", "imag"):
        for window in (None, *WINDOWS, "hann_periodic", "rect"):
            for scaling in ("density", "spectrum", None):
                for periodic in (False, True):
                    check_stft((16, 1, 9), side, window, scaling, periodic)
                    assert np.all(np.isfinite(stft_kernel((16, 1, 9), side, window, scaling, periodic)))

"""The ``initserve`` command: generate and openapi."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.cli import main
from service.core import make_tensor


def test_generate_writes_the_core_tensor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.npy"
    code = main(
        [
            "generate",
            "--shape",
            "64",
            "32",
            "--scheme",
            "he",
            "--seed",
            "3",
            "--param",
            "mode=fan_out",
            "--layout",
            "torch",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    expected = make_tensor([64, 32], "he", seed=3, layout="torch", params={"mode": "fan_out"}).array
    assert np.load(out).tobytes() == expected.tobytes()
    assert "variance" in capsys.readouterr().out


def test_generate_with_fan_axes(tmp_path: Path) -> None:
    out = tmp_path / "w.npy"
    code = main(
        [
            "generate",
            "--shape",
            "4",
            "3",
            "3",
            "8",
            "--scheme",
            "lecun",
            "--seed",
            "1",
            "--in-axis",
            "-2",
            "--out-axis",
            "-1",
            "--batch-axis",
            "0",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert np.load(out).shape == (4, 3, 3, 8)


def test_generate_reports_invalid_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "generate",
            "--shape",
            "4",
            "4",
            "--scheme",
            "variance_scaling",
            "--seed",
            "1",
            "--param",
            "scale=-1",
            "-o",
            str(tmp_path / "w.npy"),
        ]
    )
    assert code == 2
    assert "init.scale" in capsys.readouterr().err


def test_openapi_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi", "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["info"]["title"] == "initserve"


def test_generate_takes_framework_named_initializers_in_their_layout(tmp_path: Path) -> None:
    """torch.kaiming_uniform_(a=sqrt(5)) on a (256, 784) torch weight: U(+-1/28) (anchors §7.2)."""
    out = tmp_path / "w.npy"
    args = ["generate", "--shape", "256", "784", "--scheme", "torch.kaiming_uniform_", "--seed", "1"]
    assert main([*args, "--param", f"a={5**0.5!r}", "-o", str(out)]) == 0
    weights = np.load(out)
    expected = make_tensor(
        [256, 784], "he", seed=1, layout="torch", params={"distribution": "uniform", "negative_slope": 5**0.5}
    )
    assert weights.tobytes() == expected.array.tobytes()
    assert 0.0357 < np.abs(weights).max() <= 1 / 28

"""``python -m bn.bench`` runs end to end; its numbers are not checked (no benchmark here)."""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_bench(*args):
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.run(
        [sys.executable, "-m", "bn.bench", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_bench_writes_times_and_ratios(tmp_path):
    path = tmp_path / "bench.json"
    done = run_bench("--shape", "8,4,3,3", "--shape", "6,5", "--repeat", "2", "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert "fast/floor" in done.stdout  # the table
    result = json.loads(path.read_text())
    assert (result["device"], result["dtype"], result["threads"]) == ("cpu", "float32", 1)
    rows = result["results"]
    passes = ["forward", "forward+backward", "inference"]  # inference: eval mode
    assert [(r["shape"], r["pass"]) for r in rows] == [
        (shape, p) for shape in ([8, 4, 3, 3], [6, 5]) for p in passes
    ]
    # "numpy" (bn.kernels.cpu_numpy) is timed apart from "fast" only when fast is the fused path.
    fused = result["fast"].startswith("bn.kernels.cpu_numba (Numba ")
    assert fused or result["fast"] == "bn.kernels.cpu_numpy"
    assert f"fast = {result['fast']}" in done.stdout
    for row in rows:
        expected = {"readable", "fast", "floor"} | ({"torch"} if result["torch"] else set())
        assert set(row["ms"]) == expected | ({"numpy"} if fused else set())
        assert all(math.isfinite(t) and t > 0 for t in row["ms"].values())
        ratios = row["ratios"]
        numpy_ratios = {"numpy/torch", "numpy/floor"}
        assert set(ratios) == {"fast/torch", "fast/floor", "readable/fast"} | numpy_ratios
        assert (ratios["fast/torch"] is None) == (result["torch"] is None)
        assert (ratios["numpy/floor"] is None) == (not fused)
        assert (ratios["numpy/torch"] is None) == (not fused or result["torch"] is None)
        for value in ratios.values():
            assert value is None or (math.isfinite(value) and value > 0)


def test_bench_plots_the_ratios(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "ratios.png"
    done = run_bench("--shape", "4,3", "--repeat", "1", "--plot", str(path))
    assert done.returncode == 0, done.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_rejects_a_bad_shape():
    done = run_bench("--shape", "8x4")
    assert done.returncode == 2
    assert "expected sizes like 64,64,28,28, got '8x4'" in done.stderr


def test_bench_on_gpu_without_cupy_says_why():
    try:
        import cupy

        if cupy.cuda.is_available():
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    done = run_bench("--device", "gpu", "--shape", "4,3", "--repeat", "1")
    assert done.returncode == 1
    assert "--device gpu" in done.stderr and "nothing was measured" in done.stderr

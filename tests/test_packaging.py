"""The calibrated baseline ships with the package: a wheel installed in a fresh virtual environment
runs it from a folder outside the clone, byte for byte as the clone does."""

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from simmodel.cli import main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """A fresh venv with the project's wheel (no editable link to the clone); the dependencies are
    borrowed from the test environment through a .pth file, so nothing is downloaded but the build
    backend."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("simmodel-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(purelib), str(wheel)],
                   check=True, capture_output=True)
    (purelib / "zz_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return py, tmp


def _run(py, *args, cwd):
    return subprocess.run([str(py), "-m", "simmodel", *args], cwd=cwd, capture_output=True, text=True)


def test_the_wheel_runs_the_calibrated_baseline_outside_the_clone(wheel_env, tmp_path):
    py, tmp = wheel_env
    where = subprocess.run([str(py), "-c", "import simmodel; print(simmodel.__file__)"], cwd=tmp,
                           capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and "site-packages" in where  # the wheel, not the clone
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    out = _run(py, "run", "--scale", "0.004", "--out", str(elsewhere / "run"), "--quiet", cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    in_clone = tmp_path / "clone_run"
    assert main(["run", "--scale", "0.004", "--out", str(in_clone), "--quiet"]) == 0
    assert (elsewhere / "run" / "yearly.csv").read_bytes() == (in_clone / "yearly.csv").read_bytes()
    man = json.loads((elsewhere / "run" / "manifest.json").read_text())
    assert man["scenario"] == "baseline" and man["changed"]["decision.intercept"] != -8.0  # the calibrated point
    listed = _run(py, "scenarios", cwd=elsewhere)
    assert listed.returncode == 0 and "no_subsidy" in listed.stdout
    api = subprocess.run([str(py), "-c", "from simmodel import TransformationModel as T; "
                          "print(T.from_scenario().params['decision.intercept'])"], cwd=elsewhere,
                         capture_output=True, text=True)
    assert float(api.stdout) == man["changed"]["decision.intercept"]
    val = _run(py, "validate", "--seeds", "1", "--scale", "0.004", "--workers", "1", cwd=elsewhere)
    assert val.returncode in (0, 1) and "productivity_2016" in val.stdout  # the shipped targets were found

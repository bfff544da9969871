"""Same seed, same bytes; another seed, other numbers."""

import filecmp

import pytest

from simmodel.cli import main


def _run(tmp_path, name, seed):
    out = tmp_path / name
    assert main(["run", "--scale", "0.005", "--seed", str(seed), "--end", "2015-12", "--out", str(out), "--quiet"]) == 0
    return out


def test_same_seed_gives_identical_files(tmp_path):
    a, b = _run(tmp_path, "a", 3), _run(tmp_path, "b", 3)
    for f in ("yearly.csv", "monthly.csv"):
        assert filecmp.cmp(a / f, b / f, shallow=False), f


def test_another_seed_gives_different_output(tmp_path):
    a, b = _run(tmp_path, "a", 3), _run(tmp_path, "b", 4)
    assert (a / "yearly.csv").read_bytes() != (b / "yearly.csv").read_bytes()


def test_the_model_draws_no_randomness_outside_its_seed():
    import numpy as np

    from simmodel.model import TransformationModel
    np.random.seed(0)
    a = TransformationModel(seed=9, scale=0.005, end="2014-06")
    a.run()
    np.random.seed(12345)
    b = TransformationModel(seed=9, scale=0.005, end="2014-06")
    b.run()
    assert np.array_equal(a.recorder.stocks, b.recorder.stocks)


_BITS = """
import hashlib, sys
import numpy as np
from simmodel.model import TransformationModel
m = TransformationModel.from_scenario("baseline", seed=2, scale=0.005, end="2017-12")
m.run()
h = hashlib.sha256()
for a in (m.recorder.stocks, m.recorder.flows, m.recorder.scalars, m.firms.output, m.firms.cash, m.firms.debt):
    h.update(np.ascontiguousarray(a).tobytes())
from numpy.lib.introspect import opt_func_info
print(opt_func_info(func_name="^exp$", signature="^float64")["exp"]["dd"]["current"], h.hexdigest())
"""


def test_the_bits_do_not_depend_on_the_cpus_vector_instructions():
    """numpy computes exp, log, log1p, expm1 and power with its own AVX-512 code where the CPU has it and with the
    C library's elsewhere, and the two round differently (3-9 % of arguments): until the model took these from
    model/libm.py, all 22 fingerprinted runs differed between this machine with and without numpy's AVX-512 paths.
    A run here against one with them turned off (NPY_DISABLE_CPU_FEATURES, read when numpy is imported; on a CPU
    without AVX-512 both runs take the same paths and the test cannot fail)."""
    import os
    import platform
    import subprocess
    import sys

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("numpy's x86 dispatch targets are named here")

    def bits(env):
        out = subprocess.run([sys.executable, "-c", _BITS], env={**os.environ, **env}, capture_output=True,
                             text=True, check=True).stdout.split()
        return out[-2], out[-1]

    (wide, a), (narrow, b) = bits({}), bits({"NPY_DISABLE_CPU_FEATURES": "AVX512_SPR AVX512_ICL X86_V4"})
    assert narrow != "X86_V4"  # the switch took effect
    assert a == b, f"numpy's exp dispatched to {wide} and to {narrow}: other bits"


def test_the_elementary_functions_are_the_c_librarys():
    """model/libm.py's ufuncs give Python's math module's results (the C library's) to the bit."""
    import math

    import numpy as np

    from simmodel.model import libm

    x = np.random.default_rng(1).normal(0.0, 4.0, 20_000)
    pos = np.abs(x) + 1e-6
    for got, want in ((libm.exp(x), [math.exp(v) for v in x]), (libm.expm1(x), [math.expm1(v) for v in x]),
                      (libm.log(pos), [math.log(v) for v in pos]), (libm.log1p(pos), [math.log1p(v) for v in pos]),
                      (libm.power(1.0 + pos, -x), [(1.0 + v) ** -w for v, w in zip(pos, x)])):
        assert np.array_equal(got, np.array(want))

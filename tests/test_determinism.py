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
    if wide == narrow:
        pytest.skip(f"numpy takes the same path ({wide}) with and without AVX-512 on this CPU: nothing to compare")
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


def test_compiled_rules_call_the_functions_numpy_and_scipy_would():
    """The compiled rules' special function is scipy's own ndtr (through cython_special), and their powers are the
    C library's pow, not numba's repeated multiplication for an integer exponent: the normal partial expectation
    and the annuity payment against the same formulas in numpy and scipy, to the bit, over arguments that reach
    the tails (ndtr's branches at |z| > 1/sqrt(2) and beyond 37) and loans of every term the parameters allow."""
    import numpy as np
    from scipy.special import ndtr

    from simmodel.model import econ, libm

    rng = np.random.default_rng(2)
    mean = np.concatenate([rng.normal(0.0, 5.0, 20_000), [0.0, -0.0, 40.0, -40.0, 1e-300, np.inf, -np.inf]])
    sd = np.concatenate([rng.gamma(1.0, 2.0, 20_000), [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]])
    sd[::97] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, mean / sd, 0.0)
        want = np.where(sd > 0, mean * ndtr(z) + sd * (libm.exp(-0.5 * np.minimum(z * z, 1e4)) / np.sqrt(2 * np.pi)),
                        np.maximum(mean, 0.0))
    got = np.array([econ.partial_expectation(m, s) for m, s in zip(mean, sd)])
    assert np.array_equal(got, want, equal_nan=True)
    rate = rng.uniform(0.0, 0.3, 5_000)
    for years in (1, 3, 5, 10, 30):
        r = rate / 12.0
        want = 1e6 * r / (1.0 - libm.power(1.0 + r, -12 * years))
        assert np.array_equal(econ.annuity_payment(np.full(rate.size, 1e6), rate, years), want)


def test_an_edit_to_a_rule_reaches_the_cached_kernels_of_other_files(tmp_path):
    """numba reuses a cached kernel while its own file is unchanged, though the kernel has compiled in rules from
    other files; simmodel/_kernel_cache.py stamps every model kernel with all the model's sources. In a copy of
    the package: a kernel of decision.py (the logit over firms) is compiled and cached, then econ.py's
    logistic_of is edited, and a fresh process must compute with the edit."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import simmodel

    pkg = tmp_path / "simmodel"
    shutil.copytree(Path(simmodel.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from types import SimpleNamespace as N; from simmodel.model import decision as d; "
            "ctx = N(intercept=0.0, beta_value=1.0, beta_peer=0.0, beta_exposure=0.0, beta_profit=0.0, "
            "beta_skill=0.0, trigger=False); print(d.adoption_probability(0.5, 0.0, 0.0, 0.0, 0.0, ctx).item())")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"PYTHONPATH": str(tmp_path)}

    def probability() -> float:
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return float(out.stdout)

    assert probability() == pytest.approx(1.0 / (1.0 + 2.718281828459045 ** -0.5))
    assert list((pkg / "model" / "__pycache__").glob("decision._probability_kernel*.nbi"))  # cached in the copy
    econ = pkg / "model" / "econ.py"
    rule = "return 1.0 / (1.0 + math.exp(-fmin(fmax(z, -50.0), 50.0)))"
    assert rule in econ.read_text()
    econ.write_text(econ.read_text().replace(rule, "return 0.25"))
    assert probability() == 0.25


_ARRAY_SUM = """
import numpy as np

from simmodel.model.econ import array_sum


def arrays():
    rng = np.random.default_rng(12)
    for n in [*range(301), 1000, 4096, 8192, 20_000, 100_000]:
        signs = rng.choice([-1.0, 1.0], n)
        yield signs * rng.lognormal(0.0, 1.0, n) * 10.0 ** rng.integers(-12, 13, n)  # both signs, 25 decades
        yield rng.normal(0.0, 1.0, n)  # both signs, one magnitude: sums that cancel
        yield rng.lognormal(13.0, 1.5, n)  # positive, as the yuan a lease model signs
        yield np.where(rng.random(n) < 0.3, -0.0, rng.normal(0.0, 1e3, n))  # zeros of both signs among them


checked = differ = in_order = 0
for a in arrays():
    checked += 1
    differ += np.float64(array_sum(a)).tobytes() != a.sum().tobytes()
    in_order += a.size > 0 and a.cumsum()[-1] != a.sum()
print(checked, differ, in_order, sum(array_sum.stats.cache_hits.values()))
"""


def test_the_compiled_array_sum_is_numpys_sum_to_the_bit_also_loaded_from_the_cache():
    """econ.array_sum is numpy's pairwise sum (eight interleaved running sums in blocks of up to 128 terms, longer
    ranges halved at a multiple of 8) for compiled kernels (the lease volumes' decrease, finance._sign_leases): it
    must equal ndarray.sum() to the bit for every size from 0 to 300 and for large ones, with terms of both signs
    over 25 decades, of one sign, and with zeros of both signs; the sum in order differs from it for most of these
    arrays. Run here and in fresh processes, which load the kernel from numba's cache: a recursive version
    compiled and ran, and crashed the process that loaded it from the cache."""
    import os
    import subprocess
    import sys

    ns = {}
    exec(_ARRAY_SUM, ns)  # here: compiled, or loaded from the cache, and cached
    checked, differ, in_order = ns["checked"], ns["differ"], ns["in_order"]
    assert checked == 4 * 306 and differ == 0 and in_order > 3 * 250
    for _ in range(2):  # the second process at least finds the kernel in the cache
        out = subprocess.run([sys.executable, "-c", _ARRAY_SUM], env=dict(os.environ), capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        checked, differ, in_order, hits = map(int, out.stdout.split()[-4:])
        assert checked == 4 * 306 and differ == 0 and in_order > 3 * 250
    assert hits > 0


def test_the_compiled_array_sum_of_negative_zeros_is_numpys():
    """ndarray.sum() adds its pairwise sum to the reduction's start, 0.0, so a sum of -0.0 terms is 0.0; found
    while writing the test above (2026-12-05): array_sum returned -0.0 from 8 terms on, until it too added its
    sum to 0.0."""
    import numpy as np

    from simmodel.model.econ import array_sum

    for n in (8, 9, 128, 129, 300):
        a = np.full(n, -0.0)
        assert np.float64(array_sum(a)).tobytes() == a.sum().tobytes(), n


def test_the_heap_is_settled_after_a_run_and_later_runs_are_still_collected():
    """runner._settle_heap: after a process's first run the objects alive are frozen out of the cyclic collector's
    view; a later run's model (its agents refer to it: a cycle) must still be freed, or a sweep's memory grows."""
    import gc
    import weakref

    from simmodel.analysis.scenarios import baseline
    from simmodel.runs import runner

    params = baseline().params.replace({"run.scale": 0.002, "run.end": "2013-06"})
    runner.run(params, 1, monthly=False)
    assert gc.get_freeze_count() > 0
    model = runner.simulate(params, 2)
    alive = weakref.ref(model)
    model.release()
    del model
    gc.collect()
    assert alive() is None

"""Sweeps: designs, a real Dask LocalCluster, resume after interruption, failures, bad files."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from simmodel.analysis import sweep
from simmodel.cli import main
from simmodel.params import ParamError

SMALL = """# Question: a small test sweep
base = "baseline"
design = "grid"
seeds = 2
scale = 0.003
end = "2014-12"
indicators = ["firms_stage_1plus", "projects_started"]

[factors.rate]
keys = ["cities.purchase_rate"]
values = [0.0, 0.2]

[factors.leasing]
keys = ["leasing.funds_enabled", "leasing.materials_enabled"]
values = [true, false]
"""


@pytest.fixture
def small(tmp_path):
    f = tmp_path / "small.toml"
    f.write_text(SMALL)
    return f


def _spec(tmp_path, text, name="s.toml"):
    f = tmp_path / name
    f.write_text(text)
    return sweep.load_spec(f)


def test_grid_points_are_the_product_of_the_values(tmp_path, small):
    spec = sweep.load_spec(small)
    pts = spec.design_points()
    assert len(pts) == 4 and spec.points == 4
    assert {(p["rate"], p["leasing"]) for p in pts} == {(0.0, True), (0.0, False), (0.2, True), (0.2, False)}
    rng = _spec(tmp_path, SMALL.replace('values = [0.0, 0.2]', 'range = [0.0, 0.3]\nsteps = 4'))
    assert sorted({p["rate"] for p in rng.design_points()}) == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_latin_hypercube_stratifies_every_factor(tmp_path):
    text = SMALL.replace('design = "grid"', 'design = "lhs"\npoints = 20\ndesign_seed = 3').replace(
        'values = [0.0, 0.2]', 'range = [0.0, 0.4]')
    spec = _spec(tmp_path, text)
    pts = spec.design_points()
    rates = np.array([p["rate"] for p in pts])
    assert len(pts) == 20 and rates.min() >= 0 and rates.max() <= 0.4
    assert sorted(np.floor(rates / 0.4 * 20).astype(int)) == list(range(20))  # one point per stratum
    assert {p["leasing"] for p in pts} == {True, False}
    assert pts == _spec(tmp_path, text, "again.toml").design_points()  # the design seed fixes it


def test_sobol_needs_a_power_of_two_and_stays_in_bounds(tmp_path):
    text = SMALL.replace('design = "grid"', 'design = "sobol"\npoints = 16').replace(
        'values = [0.0, 0.2]', 'range = [0.05, 0.25]')
    pts = _spec(tmp_path, text).design_points()
    assert len(pts) == 16 and all(0.05 <= p["rate"] <= 0.25 for p in pts)
    with pytest.raises(ParamError, match="power of two"):
        _spec(tmp_path, text.replace("points = 16", "points = 12"), "b.toml")


@pytest.mark.parametrize("change,fragment", [
    (('design = "grid"', 'design = "cube"'), "must be one of grid, lhs, sobol"),
    (('seeds = 2', 'seeds = 0'), "seeds"),
    (('keys = ["cities.purchase_rate"]', 'keys = ["cities.purchase_rat"]'), "unknown parameter key"),
    (('values = [0.0, 0.2]', 'values = [0.0, 2.0]'), "must be a number in"),
    (('values = [0.0, 0.2]', 'range = [0.3, 0.1]\nsteps = 3'), "low < high"),
    (('values = [0.0, 0.2]', 'range = [0.0, 0.3]'), "needs steps"),
    (('indicators = ["firms_stage_1plus", "projects_started"]', 'indicators = ["nope"]'), "unknown indicator"),
    (('base = "baseline"', 'base = "nowhere"'), "unknown scenario"),
    (('seeds = 2', 'seeds = 2\ncolour = "red"'), "unknown sweep key"),
    (('[factors.rate]', '[factors.rate\n'), "not valid TOML"),
    (('end = "2014-12"', 'end = "2014-06"\nplot_year = 2014'), "must be a complete year of the runs, 2013-2013"),
])
def test_malformed_sweep_files_are_one_line_and_exit_2(tmp_path, capsys, change, fragment):
    f = tmp_path / "bad.toml"
    f.write_text(SMALL.replace(*change))
    out = tmp_path / "out"
    assert main(["sweep", str(f), "--workers", "1", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not out.exists()


def test_a_sweep_ending_before_december_plots_its_last_complete_year(tmp_path):
    f = tmp_path / "half.toml"
    f.write_text(SMALL.replace('end = "2014-12"', 'end = "2014-06"'))
    assert sweep.load_spec(f).plot_year == 2013  # 2014 holds January-June only
    f.write_text(SMALL)
    assert sweep.load_spec(f).plot_year is None  # the last year of the runs, whole


def test_a_sweep_writes_one_file_per_run_a_table_a_summary_and_figures(tmp_path, small):
    out = tmp_path / "s"
    assert main(["sweep", str(small), "--workers", "1", "--out", str(out), "--quiet"]) == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == [f"p{p:05d}-s{s:04d}.csv" for p in range(4) for s in (1, 2)]
    table = (out / "table.csv").read_text().splitlines()
    assert table[0] == "point,seed,rate,leasing,period,indicator,value" and len(table) == 1 + 8 * 2 * 2
    assert (out / "summary.csv").read_text().count("\n") == 1 + 4 * 2 * 2
    assert (out / "figures" / "response.png").stat().st_size > 5000
    assert (out / "figures" / "heatmap_firms_stage_1plus.png").exists()
    # sweep-plot redraws them from the stored results
    (out / "figures" / "response.png").unlink()
    assert main(["sweep-plot", str(out)]) == 0 and (out / "figures" / "response.png").exists()


def test_two_worker_local_cluster_gives_the_same_table_as_one_process(tmp_path, small):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["sweep", str(small), "--workers", "1", "--out", str(a), "--quiet"]) == 0
    assert main(["sweep", str(small), "--workers", "2", "--out", str(b), "--quiet"]) == 0
    assert (a / "table.csv").read_bytes() == (b / "table.csv").read_bytes()
    assert (a / "summary.csv").read_bytes() == (b / "summary.csv").read_bytes()


def test_resume_after_an_interruption_gives_the_identical_table(tmp_path, small, monkeypatch):
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["sweep", str(small), "--workers", "1", "--out", str(full), "--quiet"]) == 0
    import simmodel.analysis.sweep as sw
    real = sw.write_run
    calls = {"n": 0}

    def interrupted(st, outcome):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real(st, outcome)
    monkeypatch.setattr(sw, "write_run", interrupted)
    assert main(["sweep", str(small), "--workers", "1", "--out", str(part), "--quiet"]) == 130
    monkeypatch.setattr(sw, "write_run", real)
    assert len(list((part / "runs").glob("*.csv"))) == 3 and not (part / "table.csv").exists()
    assert main(["sweep", str(small), "--workers", "1", "--out", str(part), "--resume", "--quiet"]) == 0
    assert (full / "table.csv").read_bytes() == (part / "table.csv").read_bytes()


def test_sigkill_mid_sweep_loses_no_finished_run_and_leaves_no_corrupt_file(tmp_path, small):
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["sweep", str(small), "--workers", "1", "--out", str(full), "--quiet"]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "simmodel", "sweep", str(small), "--workers", "1", "--out", str(part),
                             "--quiet"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120

    def finished():
        return len(list((part / "runs").glob("*.csv"))) if (part / "runs").exists() else 0
    while finished() < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted((part / "runs").glob("p*.csv"))
    assert 3 <= len(done) < 8
    for f in done:  # every finished run file is complete: same rows as in the full sweep
        assert f.read_bytes() == (full / "runs" / f.name).read_bytes()
    assert main(["sweep", str(small), "--workers", "1", "--out", str(part), "--resume", "--quiet"]) == 0
    assert (full / "table.csv").read_bytes() == (part / "table.csv").read_bytes()
    assert not list((part / "runs").glob(".*.tmp"))


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, small, fail_runs):
    fail_runs(lambda params, seed: seed == 2 and params["cities.purchase_rate"] == 0.2)
    out = tmp_path / "s"
    assert main(["sweep", str(small), "--workers", "1", "--out", str(out), "--quiet"]) == 3  # some runs failed
    assert main(["sweep", str(small), "--workers", "1", "--out", str(out), "--resume", "--quiet",
                 "--allow-failures"]) == 0  # ... which may be accepted
    errs = sorted(p.name for p in (out / "runs").glob("*.err"))
    assert errs == ["p00002-s0002.err", "p00003-s0002.err"]
    assert "boom in the model" in (out / "runs" / errs[0]).read_text()
    import json
    man = json.loads((out / "manifest.json").read_text())
    assert man["result"]["runs_ok"] == 6 and man["result"]["runs_failed"] == 2
    fail_runs(None)  # a resume retries the failed runs
    assert main(["sweep", str(small), "--workers", "1", "--out", str(out), "--resume", "--quiet"]) == 0
    assert not list((out / "runs").glob("*.err")) and len(list((out / "runs").glob("*.csv"))) == 8


def test_losing_a_dask_worker_does_not_lose_runs(small):
    from simmodel.runs.executor import DaskExecutor
    spec = sweep.load_spec(small)
    tasks = list(sweep.tasks(spec, spec.design_points(), set()))
    with DaskExecutor(workers=2) as ex:
        pids = ex.client.run(os.getpid)
        got = []
        for i, outcome in enumerate(ex.map(tasks)):
            got.append(outcome)
            if i == 1:
                os.kill(next(iter(pids.values())), signal.SIGKILL)  # one worker dies mid-sweep
        assert len(got) == len(tasks) and all(o.ok for o in got)
        assert sorted(o.task.key for o in got) == sorted(t.key for t in tasks)


def test_resume_refuses_another_sweep_file(tmp_path, small, capsys):
    out = tmp_path / "s"
    assert main(["sweep", str(small), "--workers", "1", "--out", str(out), "--quiet"]) == 0
    other = tmp_path / "other.toml"
    other.write_text(SMALL.replace("seeds = 2", "seeds = 3"))
    assert main(["sweep", str(other), "--workers", "1", "--out", str(out), "--resume", "--quiet"]) == 2
    assert "different sweep file" in capsys.readouterr().err


def test_no_model_outlives_its_run():
    """Memory stays flat over many runs in one worker: no finished model is kept (Mesa 3.3.1 would keep
    every model in Agent._ids without TransformationModel.release)."""
    import gc

    import mesa

    from simmodel.runs.executor import SerialExecutor, Task
    from simmodel.params import Params
    p = Params().replace({"run.scale": 0.002, "run.end": "2013-06"})
    before = set(mesa.Agent._ids)  # models other tests built directly
    outcomes = list(SerialExecutor().map([Task(f"s{s}", p, s) for s in range(5)]))
    gc.collect()
    assert all(o.ok for o in outcomes)
    assert set(mesa.Agent._ids) <= before


def test_every_shipped_sweep_loads_and_says_what_it_answers():
    from pathlib import Path

    from simmodel.analysis.sweep import load_spec

    files = sorted((Path(__file__).parent.parent / "experiments" / "sweeps").glob("*.toml"))
    assert len(files) >= 4
    for f in files:
        spec = load_spec(f)
        assert spec.question and spec.points > 1, f.name


def test_a_factor_with_several_keys_sets_every_one_of_them_at_every_point():
    """The shipped leasing factor switches the three leasing models together: each point's run parameters carry
    the point's value in all three (a probe that set only a factor's first key survived every test)."""
    spec = sweep.load_spec("experiments/sweeps/conferences_x_leasing.toml")
    leasing = next(f for f in spec.factors if len(f.keys) > 1)
    assert len(leasing.keys) == 3
    from simmodel.analysis.scenarios import load

    base = load(spec.base).params
    for value in (False, True):
        point = {f.name: (value if f is leasing else f.values[0]) for f in spec.factors}
        params = spec.point_params(base, point)
        assert [params[k] for k in leasing.keys] == [value] * 3

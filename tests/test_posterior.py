"""Parameter uncertainty: `--posterior N` draws from the calibration posterior (analysis/posterior.py).

Every posterior here is a small synthetic file the test writes; runs are tiny (scale 0.003, to 2013-12).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from simmodel.analysis import posterior, scenarios, sweep
from simmodel.analysis.posterior import Plan, Posterior
from simmodel.cli import main
from simmodel.params import ParamError, Params
from simmodel.runs import runner, store

FAST = ["--scale", "0.003", "--end", "2013-12", "--workers", "1", "--quiet"]
KEYS = "weight,decision.intercept,beliefs.prior_mean,cloud.ramp_months"
# two particles of equal weight: with two draws, systematic resampling takes each once (draw 0: particle 0)
TWO = f"{KEYS}\n0.5,-7.6,0.8,6\n0.5,-6.9,1.0,9\n"


def _file(folder, text, name="post.csv"):
    p = folder / name
    p.write_text(text)
    return p


def _spy_params(monkeypatch) -> dict[int, object]:
    """The Params of the model each run built, by seed (runs in process, --workers 1)."""
    seen, real = {}, runner.simulate

    def spy(params, seed, progress=None):
        model = real(params, seed, progress)
        seen[seed] = model.params
        return model
    monkeypatch.setattr(runner, "simulate", spy)
    return seen


# --- the reader -----------------------------------------------------------------------------------------
BAD = [
    ("weight,decision.intercep\n1,-7\n", "did you mean decision.intercept"),
    ("weight,decision.intercept\n1,lots\n", "decision.intercept = 'lots': must be a number"),
    ("weight,decision.intercept\n-0.5,-7\n1,-7\n", "weight = '-0.5': must be a finite number >= 0"),
    ("weight,decision.intercept\nnan,-7\n", "must be a finite number >= 0"),
    ("weight,decision.intercept\n0,-7\n0,-7.5\n", "every particle has weight 0"),
    ("weight,decision.intercept\n1,99\n", "decision.intercept = 99.0: must be a number in [-20.0, 5.0]"),
    ("weight,cloud.ramp_months\n1,6.5\n", "cloud.ramp_months = 6.5: must be an integer in [1, 60]"),
    ("weight,leasing.funds_enabled\n1,1\n", "a posterior holds only numeric"),
    ("w,decision.intercept\n1,-7\n", "must start with weight"),
    ("weight,decision.intercept\n1,-7,3\n", "has 3 fields; the header has 2"),
    ("weight,decision.intercept,decision.intercept\n1,-7,-7\n", "appears twice"),
    ("weight,decision.intercept\n", "no particle rows"),
    ("", "the file is empty"),
]


@pytest.mark.parametrize("text,fragment", BAD)
def test_a_bad_posterior_file_is_one_line_exit_2_and_nothing_is_written(tmp_path, capsys, text, fragment):
    bad = _file(tmp_path, text)
    assert main(["run", "--posterior", "2", "--posterior-file", str(bad), "--out", str(tmp_path / "r"), *FAST]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(bad) in err  # names the file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["post.csv"]


SWEEP = """# Question: a posterior sweep
base = "baseline"
design = "grid"
seeds = 1
scale = 0.003
end = "2013-12"
indicators = ["firms_stage_1plus", "projects_started"]

[factors.intercept]
keys = ["decision.intercept"]
values = [-7.5, -7.0]
"""


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_compare_and_sweep_reject_a_bad_posterior_the_same_way(tmp_path, capsys, command):
    bad = _file(tmp_path, "weight,decision.intercept\n1,99\n")
    spec = _file(tmp_path, SWEEP, "sw.toml")
    head = ["compare", "baseline", "no_fund", *FAST] if command == "compare" else ["sweep", str(spec), "--quiet"]
    assert main([*head, "--posterior", "2", "--posterior-file", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "decision.intercept = 99.0" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["post.csv", "sw.toml"]


@pytest.mark.parametrize("args,fragment", [
    (["run", "--posterior", "2"], "the baseline has no posterior yet: `simmodel calibrate` writes "
                                  "calibration/posterior.csv"),
    (["run", "--posterior", "0"], "--posterior = 0: must be at least 1"),
    (["run", "--posterior", "2", "--posterior-file", "nowhere.csv"], "no such file"),
    (["run", "--posterior-file", "nowhere.csv"], "needs --posterior N"),
    (["compare", "baseline", "no_fund", "--posterior", "-1"], "must be at least 1"),
    (["validate", "--posterior", "2"], "unrecognized arguments"),  # validate runs the calibrated point only
])
def test_posterior_options_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch, args, fragment):
    from simmodel import resources
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(resources, "calibration_dir", lambda: tmp_path / "no-calibration")  # no shipped posterior
    assert main([*args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


# --- the draws ------------------------------------------------------------------------------------------
def test_draws_are_deterministic_typed_and_follow_the_weights(tmp_path):
    # particle 1 has weight 0; weights 9 : 0 : 1 are normalised to 0.9 : 0 : 0.1
    post = Posterior.load(_file(tmp_path, f"{KEYS}\n9,-7.6,0.8,6\n0,-6.0,1.1,12\n1,-6.9,1.0,9.0\n"))
    assert post.weights.tolist() == pytest.approx([0.9, 0.0, 0.1]) and post.keys == tuple(KEYS.split(",")[1:])
    n = 2000
    a, b = post.draws(n, seed=7), post.draws(n, seed=7)
    assert [d.particle for d in a] == [d.particle for d in b]  # deterministic for (file, n, seed)
    assert [d.number for d in a] == list(range(n))
    assert a[0].values == {"decision.intercept": -7.6, "beliefs.prior_mean": 0.8, "cloud.ramp_months": 6}
    assert all(type(d.values["cloud.ramp_months"]) is int for d in a)  # an integer parameter stays one
    # Tolerance: a multinomial (independent) draw's share of particle 0 has sd sqrt(0.9 * 0.1 / n) = 0.0067;
    # 4 sd (0.027) is exceeded with probability < 1e-4. Systematic resampling is tighter still: particle 0
    # is drawn floor(0.9 n) or ceil(0.9 n) times.
    for seed in range(20):
        drawn = [d.particle for d in post.draws(n, seed)]
        assert 1 not in drawn  # weight 0: never drawn
        share = drawn.count(0) / n
        assert abs(share - 0.9) <= 4 * math.sqrt(0.9 * 0.1 / n)
        assert math.floor(0.9 * n) <= drawn.count(0) <= math.ceil(0.9 * n)
    # one draw at a time, over many seeds, also follows the weights (binomial, 4 sd over 1000 seeds: 0.038)
    singles = [post.draws(1, seed)[0].particle for seed in range(1000)]
    assert 1 not in singles and abs(singles.count(0) / 1000 - 0.9) <= 4 * math.sqrt(0.9 * 0.1 / 1000)
    with pytest.raises(ParamError, match="at least 1"):
        post.draws(0, 1)


def test_a_plan_gives_each_draw_its_own_seeds(tmp_path):
    plan = Plan.make(3, first_seed=5, seeds_per_draw=2, path=_file(tmp_path, TWO))
    assert plan.runs() == [(0, 5), (0, 6), (1, 7), (1, 8), (2, 9), (2, 10)]
    assert plan.draws == tuple(Plan.make(3, 5, 2, tmp_path / "post.csv").draws)  # the same command, the same draws
    man = plan.manifest()
    assert man["sha256"] == store_sha(tmp_path / "post.csv") and man["draws"] == 3 and man["draw_seed"] == 5
    assert [e["seeds"] for e in man["each"]] == [[5, 6], [7, 8], [9, 10]]


def test_the_draws_follow_the_commands_seed_and_not_its_seeds_per_draw(tmp_path):
    """`--seed K` takes the draws (with seed K): three particles of equal weight, one draw, are each drawn by some of
    the seeds 1-30 (all 30 would pick the same one with probability 3 x (1/3)^30); the number of seeds a draw runs
    on (--seeds) changes which seeds each draw runs on, not which particles are drawn."""
    path = _file(tmp_path, f"{KEYS}\n1,-7.6,0.8,6\n1,-6.9,1.0,9\n1,-7.2,0.9,7\n")
    base = Params()  # the calibrated point the draws replace plays no part in which are drawn
    assert {Plan.make(1, k, 2, path, base).draws[0].particle for k in range(1, 31)} == {0, 1, 2}
    for k in (1, 5, 9):
        assert Plan.make(4, k, 2, path, base).draws == Plan.make(4, k, 7, path, base).draws


def store_sha(path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- precedence: the draw replaces the calibrated point; the scenario's own settings and overrides win --
def test_apply_puts_the_draw_under_the_scenario_and_the_overrides(tmp_path):
    base = scenarios.baseline().params
    draw = {"decision.intercept": -6.5, "beliefs.prior_mean": 0.9}
    p = posterior.apply(base, draw, base)
    assert p["decision.intercept"] == -6.5 and p["beliefs.prior_mean"] == 0.9
    own = _file(tmp_path, 'inherits = "baseline"\n[decision]\nintercept = -8.5\n', "own.toml")
    p = posterior.apply(scenarios.load(str(own)).params, draw, base)
    assert p["decision.intercept"] == -8.5 and p["beliefs.prior_mean"] == 0.9  # the scenario's own value wins
    p = posterior.apply(base, draw, base, {"intercept": -7.0, "run.scale": 0.003})  # a leaf name works too
    assert p["decision.intercept"] == -7.0 and p["beliefs.prior_mean"] == 0.9 and p["run.scale"] == 0.003
    no_subsidy = scenarios.load("no_subsidy").params
    p = posterior.apply(no_subsidy, draw, base)
    assert p["decision.intercept"] == -6.5 and p.changed().items() >= {
        k: v for k, v in no_subsidy.changed().items() if k not in draw}.items()  # the rest of the scenario stays


def test_a_drawn_value_reaches_the_model_unless_the_scenario_or_set_fixes_it(tmp_path, monkeypatch):
    post = _file(tmp_path, TWO)
    seen = _spy_params(monkeypatch)
    base = ["run", "--posterior", "2", "--posterior-file", str(post), *FAST]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert seen[1]["decision.intercept"] == -7.6 and seen[1]["beliefs.prior_mean"] == 0.8  # draw 0, seed 1
    assert seen[2]["decision.intercept"] == -6.9 and seen[2]["cloud.ramp_months"] == 9  # draw 1, seed 2
    seen.clear()
    assert main([*base, "--set", "decision.intercept=-7.0", "--out", str(tmp_path / "b")]) == 0
    assert seen[1]["decision.intercept"] == seen[2]["decision.intercept"] == -7.0  # --set wins
    assert (seen[1]["beliefs.prior_mean"], seen[2]["beliefs.prior_mean"]) == (0.8, 1.0)  # the rest is drawn
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert man["posterior"]["drawn_keys"] == ["beliefs.prior_mean", "cloud.ramp_months"]
    seen.clear()
    own = _file(tmp_path, 'inherits = "baseline"\n[decision]\nintercept = -8.5\n', "own.toml")
    assert main([*base, "--scenario", str(own), "--out", str(tmp_path / "c")]) == 0
    assert seen[1]["decision.intercept"] == seen[2]["decision.intercept"] == -8.5  # the scenario's own value
    assert (seen[1]["beliefs.prior_mean"], seen[2]["beliefs.prior_mean"]) == (0.8, 1.0)


def test_a_sweep_factor_wins_over_the_draw(tmp_path, monkeypatch):
    post = _file(tmp_path, TWO)
    spec = sweep.load_spec(_file(tmp_path, SWEEP, "sw.toml"))
    plan = Plan.make(2, spec.seeds[0], len(spec.seeds), post)
    tasks = list(sweep.tasks(spec, spec.design_points(), set(), plan))
    assert [(t.meta["point"], t.meta["draw"], t.seed) for t in tasks] == [(0, 0, 1), (0, 1, 2), (1, 0, 1), (1, 1, 2)]
    for t in tasks:
        assert t.params["decision.intercept"] == (-7.5, -7.0)[t.meta["point"]]  # the factor's value
        assert t.params["beliefs.prior_mean"] == (0.8, 1.0)[t.meta["draw"]]  # the drawn value
        assert t.params["run.scale"] == 0.003 and t.params["run.end"] == "2013-12"
    # and through the command: the model of every run holds the factor's value and the draw's
    seen = _spy_params(monkeypatch)
    out = tmp_path / "s"
    assert main(["sweep", str(spec.path), "--posterior", "2", "--posterior-file", str(post), "--workers", "1",
                 "--out", str(out), "--quiet"]) == 0
    assert {s: p["beliefs.prior_mean"] for s, p in seen.items()} == {1: 0.8, 2: 1.0}
    assert seen[1]["decision.intercept"] == -7.0  # the last point to run on seed 1


# --- results --------------------------------------------------------------------------------------------
def test_a_design_over_the_posterior_is_named_in_one_phrase_with_its_counts():
    from simmodel.analysis.posterior import design_phrase

    assert design_phrase(40, 1) == "40 posterior draws x 1 seed"  # figures had read "x 1 seeds"
    assert design_phrase(1, 4) == "1 posterior draw x 4 seeds"


def test_compare_over_draws_keeps_common_random_numbers(tmp_path, capsys):
    post = _file(tmp_path, TWO)
    twin = _file(tmp_path, '# Question: the baseline again\ninherits = "baseline"\n', "twin.toml")
    out = tmp_path / "c"
    assert main(["compare", "baseline", str(twin), "no_subsidy", "--seeds", "2", "--posterior", "2",
                 "--posterior-file", str(post), "--out", str(out), *FAST[:-1]]) == 0
    printed = capsys.readouterr().out
    # 4 runs: too few for a 5-95 % band (stats.MIN_BAND_RUNS), so means only, and the phrase says so
    phrase = ("means over 2 posterior draws x 2 seeds: parameter and seed uncertainty together; no 5-95 % band: "
              "4 runs")
    assert phrase in printed and phrase in (out / "report.md").read_text()
    man = json.loads((out / "manifest.json").read_text())
    p = man["posterior"]
    assert p["draws"] == 2 and p["draw_seed"] == 1 and p["sha256"] == store_sha(post) and man["seeds"] == [1, 2, 3, 4]
    assert [(e["particle"], e["seeds"]) for e in p["each"]] == [(0, [1, 2]), (1, [3, 4])]
    assert p["each"][1]["values"] == {"decision.intercept": -6.9, "beliefs.prior_mean": 1.0, "cloud.ramp_months": 9}
    runs = {}
    for name in ("baseline", "twin", "no_subsidy"):
        y = pd.read_csv(out / "scenarios" / name / "yearly.csv")
        assert list(y.columns[:2]) == ["seed", "draw"]
        runs[name] = y
        assert set(zip(y.draw, y.seed)) == {(0, 1), (0, 2), (1, 3), (1, 4)}  # every scenario on the same pairs
    # the draws differ in their parameters, and so in their runs
    b = runs["baseline"]
    started = b[(b.region == "Zhejiang") & (b.sector == "all") & (b.indicator == "projects_started")]
    assert started.groupby("draw").value.mean().nunique() == 2
    summary = pd.read_csv(out / "scenarios" / "baseline" / "summary.csv")
    assert summary.seeds.max() == 4  # bands over all N x S runs (fewer where a tiny run's value is undefined)
    assert (summary[(summary.region == "Zhejiang") & (summary.indicator == "projects_started")].seeds == 4).all()
    comp = pd.read_csv(out / "comparison.csv")
    same = comp[comp.scenario == "twin"]
    effect = ["scen_minus_ref_mean", "scen_minus_ref_p50", "scen_minus_ref_pct_mean"]
    assert len(same) > 50 and (same[effect].abs().fillna(0) == 0).all().all()
    # ... per run, too: the twin's every row equals the baseline's on the same (draw, seed)
    pd.testing.assert_frame_equal(runs["twin"], runs["baseline"])
    assert (comp[(comp.scenario == "no_subsidy") & (comp.indicator == "subsidy_spent")].scen_minus_ref_mean < 0).all()


def test_without_posterior_the_tables_are_what_the_runner_gives(tmp_path):
    """The plain path, byte for byte: yearly.csv is the runner's rows written as before (seed column, no
    draw), and a one-particle posterior at the baseline's own values gives the same runs with a draw column."""
    out = tmp_path / "plain"
    assert main(["run", "--seeds", "2", "--out", str(out), *FAST]) == 0
    params = scenarios.baseline().params.replace({"run.scale": 0.003, "run.end": "2013-12"})
    expected = "seed,period,region,sector,indicator,value\n" + "".join(
        f"{s}," + ",".join(map(str, r[:-1])) + "," + store.fmt_value(r[-1]) + "\n"
        for s in (1, 2) for r in runner.run(params, s, monthly=False).yearly)
    assert (out / "yearly.csv").read_text() == expected
    base = scenarios.baseline().params
    at_point = _file(tmp_path, "weight,decision.intercept,beliefs.prior_mean\n"
                     f"1,{base['decision.intercept']!r},{base['beliefs.prior_mean']!r}\n")
    drawn = tmp_path / "drawn"
    assert main(["run", "--seeds", "2", "--posterior", "1", "--posterior-file", str(at_point), "--out", str(drawn),
                 *FAST]) == 0
    for f in ("yearly.csv", "monthly.csv"):
        d = pd.read_csv(drawn / f, dtype=str)
        assert (d.draw == "0").all()
        assert d.drop(columns="draw").to_csv(index=False) == pd.read_csv(out / f, dtype=str).to_csv(index=False)
    assert (drawn / "summary.csv").read_bytes() == (out / "summary.csv").read_bytes()


def test_a_posterior_sweep_resumes_to_the_same_table_and_only_with_the_same_draws(tmp_path, capsys):
    post = _file(tmp_path, TWO)
    spec = _file(tmp_path, SWEEP, "sw.toml")
    out = tmp_path / "s"
    cmd = ["sweep", str(spec), "--posterior", "2", "--posterior-file", str(post), "--workers", "1", "--quiet",
           "--out", str(out)]
    assert main(cmd) == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == [f"p{p:05d}-d{d:04d}-s{s:04d}.csv" for p in (0, 1) for d, s in ((0, 1), (1, 2))]
    table = (out / "table.csv").read_bytes()
    assert table.decode().splitlines()[0] == "point,draw,seed,intercept,period,indicator,value"
    assert (out / "summary.csv").read_text().splitlines()[1].endswith(",2")  # bands over 2 draws x 1 seed
    man = json.loads((out / "manifest.json").read_text())
    assert man["posterior"]["drawn_keys"] == ["beliefs.prior_mean", "cloud.ramp_months"]  # the factor keeps its own
    (out / "runs" / runs[1]).unlink()
    (out / "table.csv").unlink()
    assert main([*cmd, "--resume"]) == 0
    assert (out / "table.csv").read_bytes() == table
    capsys.readouterr()
    for other in (["--posterior", "3"], []):
        changed = [a for a in cmd if a not in ("--posterior", "2", "--posterior-file", str(post))]
        extra = [*other, "--posterior-file", str(post)] if other else []
        assert main([*changed, *extra, "--resume"]) == 2
        err = capsys.readouterr().err
        assert "holds a sweep run with --posterior 2" in err and err.count("\n") == 1


def test_a_result_that_sets_a_calibrated_parameter_does_not_say_it_is_at_the_calibrated_point():
    """Without --posterior a result says its bands are over seeds only, 'at the calibrated point'. A --set of a
    parameter the calibration fitted moves the point, and the phrase names it; a --set of any other parameter (a
    policy lever) leaves the calibrated point as it is. The calibrated parameters are those of the shipped
    calibration/fitted.toml, which the posterior's draws vary too."""
    plain = posterior.bands_phrase(None, 20)
    assert plain.endswith("at the calibrated point")
    assert posterior.bands_phrase(None, 20, moved={"cities.purchase_rate": 0.2}) == plain
    moved = posterior.bands_phrase(None, 20, moved={"decision.intercept": -6.0, "cities.purchase_rate": 0.2})
    assert moved.endswith("at the calibrated point but for decision.intercept (--set)")
    assert set(Posterior.load().keys) <= posterior.calibrated_keys()
    assert "run.scale" not in posterior.calibrated_keys()

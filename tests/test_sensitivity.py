"""Global sensitivity (`simmodel sensitivity`) and the Python entry point (analysis/api.py)."""

import dataclasses
import json

import pandas as pd
import pytest

from simmodel.analysis import api, sensitivity
from simmodel.cli import main
from simmodel.params import ParamError

TINY = """# Question: does the model's base rate matter more than a cost line that buys nothing?
method = "{method}"
samples = {samples}
seeds = 2
end = "2014-12"
scale = 0.004
resamples = 50
[outputs.firms]
indicator = "firms_stage_1plus"
year = 2014
[outputs.cost]
indicator = "public_cost"
year = 2014
sum = true
[factors.intercept]
keys = ["decision.intercept"]
range = "prior"
[factors.conference_cost]
keys = ["demonstration.cost_per_conference"]
range = [0.0, 1e6]
[factors.subsidy]
keys = ["cities.purchase_rate"]
range = [0.0, 0.3]
"""


def write(tmp_path, text=None, **kw):
    path = tmp_path / "s.toml"
    path.write_text(text if text is not None else TINY.format(**{"method": "morris", "samples": 4, **kw}))
    return path


def indices_of(folder, output, index):
    t = pd.read_csv(folder / "indices.csv")
    return t[(t.output == output) & (t["index"] == index)].set_index("factor").value


def test_morris_ranks_what_moves_an_output_and_gives_zero_to_what_cannot(tmp_path):
    out = tmp_path / "m"
    assert main(["sensitivity", str(write(tmp_path)), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    firms, cost = indices_of(out, "firms", "mu_star"), indices_of(out, "cost", "mu_star")
    # the unit cost of a conference changes what is paid, never what firms do (common random numbers): exactly 0
    assert firms["conference_cost"] == 0.0
    assert cost["conference_cost"] > 0
    # the base rate of adoption over its prior moves adoption by far the most
    assert firms["intercept"] > 10 * firms["subsidy"] and firms["intercept"] > 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "sensitivity" and man["method"] == "morris" and man["complete"]
    assert man["roles"] == {"intercept": "uncertain", "conference_cost": "uncertain", "subsidy": "lever"}
    assert man["ranges_from"] == {"intercept": "prior"} and "SALib" in man["versions"]
    report = (out / "report.md").read_text()
    assert "`intercept` drives firms most" in report and "Convergence:" in report
    for f in ("morris.png", "convergence.png"):
        assert (out / "figures" / f).stat().st_size > 10_000
    conv = pd.read_csv(out / "convergence.csv")
    assert sorted(conv.samples.unique()) == [2, 4]


def test_the_outputs_are_the_mean_over_seeds_of_each_design_point(tmp_path):
    out = tmp_path / "m"
    assert main(["sensitivity", str(write(tmp_path)), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    spec = sensitivity.load_spec(out / "sweep.toml")
    y, runs = sensitivity.output_matrix(spec, out)
    table = pd.read_csv(out / "table.csv", dtype={"period": str})
    firms = table[(table.indicator == "firms_stage_1plus") & (table.period == "2014")]
    expected = firms.groupby("point").value.mean().to_numpy()
    assert y[:, 0] == pytest.approx(expected, rel=1e-12)
    paid = table[table.indicator == "public_cost"].groupby(["point", "seed"]).value.sum().groupby("point").mean()
    assert y[:, 1] == pytest.approx(paid.to_numpy(), rel=1e-12)
    by_seed = firms.pivot(index="point", columns="seed", values="value").to_numpy()
    assert runs.shape == (spec.points, 2, 2) and runs[:, :, 0] == pytest.approx(by_seed, rel=1e-12)


def test_sobol_indices_and_the_same_bytes_on_a_rerun(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    path = write(tmp_path, method="sobol", samples=4)
    for out in (a, b):
        assert main(["sensitivity", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert (a / "indices.csv").read_bytes() == (b / "indices.csv").read_bytes()
    st = indices_of(a, "firms", "ST")
    assert st["conference_cost"] == pytest.approx(0.0, abs=1e-12) and st["intercept"] > 0.5
    assert (a / "figures" / "sobol.png").is_file()


def test_resume_runs_only_what_is_missing_and_gives_the_same_indices(tmp_path):
    out = tmp_path / "r"
    path = write(tmp_path)
    assert main(["sensitivity", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    before = (out / "indices.csv").read_bytes()
    runs = sorted((out / "runs").glob("*.csv"))
    for r in runs[::3]:
        r.unlink()
    assert main(["sensitivity", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 2  # needs --resume
    assert main(["sensitivity", str(path), "--out", str(out), "--workers", "1", "--quiet", "--resume"]) == 0
    assert (out / "indices.csv").read_bytes() == before


@pytest.mark.parametrize("change, fragment", [
    (("samples = 4", "samples = 4\nbogus = 1"), "bogus"),
    (('method = "morris"', 'method = "fast"'), "method"),
    (('method = "morris"\nsamples = 4', 'method = "sobol"\nsamples = 6'), "power of two"),
    (('range = "prior"', 'range = "hunch"'), "factors.intercept.range"),
    (('keys = ["cities.purchase_rate"]\nrange = [0.0, 0.3]', 'keys = ["cities.purchase_rate"]\nrange = "posterior"'),
     "is not calibrated"),
    (("year = 2014\n[outputs.cost]", "year = 2016\n[outputs.cost]"), "outputs.firms.year"),
    (('end = "2014-12"', 'end = "2014-06"'), "outputs.firms.year"),  # 2014 cut short: not a complete year
    (('indicator = "firms_stage_1plus"', 'indicator = "firms_transformed"'), "outputs.firms.indicator"),
])
def test_bad_sensitivity_files_are_one_line_and_exit_2_and_write_nothing(tmp_path, capsys, change, fragment):
    text = TINY.format(method="morris", samples=4)
    assert change[0] in text
    path = write(tmp_path, text.replace(change[0], change[1]))
    out = tmp_path / "never"
    assert main(["sensitivity", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err
    assert not out.exists()


def test_evaluate_gives_the_run_s_own_values():
    from simmodel.analysis import scenarios
    from simmodel.runs.runner import run

    outputs = (api.Output("firms", "firms_stage_1plus", 2014),
               api.Output("paid", "public_cost", 2014, sum=True),
               api.Output("paid_per_firm", "public_cost", 2014, sum=True, over="firms_stage_1plus"))
    got = api.evaluate({"cities.purchase_rate": 0.2}, seed=3, outputs=outputs, scale=0.004, end="2014-12")
    params = scenarios.load("baseline").params.replace({"cities.purchase_rate": 0.2, "run.scale": 0.004,
                                                        "run.end": "2014-12"})
    rows = api.province_values(run(params, 3, monthly=False).yearly)
    assert got["firms"] == rows[("2014", "firms_stage_1plus")]
    assert got["paid"] == rows[("2013", "public_cost")] + rows[("2014", "public_cost")]
    assert got["paid_per_firm"] == pytest.approx(got["paid"] / got["firms"], rel=1e-12)
    with pytest.raises(ParamError, match="cities.purchase_rat"):
        api.evaluate({"cities.purchase_rat": 0.2}, seed=1, scale=0.004, end="2013-12")


@pytest.mark.parametrize("folder", ["sensitivity", "discovery", "optimise"])
def test_the_shipped_example_files_are_valid(folder):
    from pathlib import Path

    from simmodel.analysis import discovery, optimise

    module = {"sensitivity": sensitivity, "discovery": discovery, "optimise": optimise}[folder]
    files = sorted((Path(__file__).parent.parent / "experiments" / folder).glob("*.toml"))
    assert files
    for f in files:
        spec = module.load_spec(f)
        assert spec.question, f"{f.name}: a '# Question:' line says what it answers"


def _report_of(tmp_path, spec, mu_star: dict, half: float) -> list[str]:
    """The report's firms and cost sections from hand-made Morris indices (``mu_star``: output -> factor -> value;
    mu the same, sigma 0.1, every 95 % half-width ``half``), the seed noise unknown."""
    import numpy as np

    rows, conv = [], []
    for o, values in mu_star.items():
        for f, role in zip(spec.factors, spec.roles):
            for index, v in (("mu_star", values[f.name]), ("mu", values[f.name]), ("sigma", 0.1)):
                rows.append({"output": o, "factor": f.name, "role": role, "index": index, "value": v,
                             "conf95": half, "samples": 4})
            conv += [{"output": o, "factor": f.name, "index": "mu_star", "samples": m, "value": values[f.name],
                      "conf95": half} for m in (2, 4)]
    noise = {o: np.full(len(spec.factors), np.nan) for o in mu_star}
    report = sensitivity.write_report(spec, tmp_path, pd.DataFrame(rows), pd.DataFrame(conv), noise,
                                      np.ones((spec.points, 2))).read_text()
    return report.split("## firms")[1].split("## cost")


def test_the_report_compares_the_strongest_lever_with_the_strongest_uncertain_parameter(tmp_path):
    """The sentence a modeller reads first: of the levers the most influential one, of the uncertain parameters the
    most influential one, their ratio and which matters more. Hand-made indices of two levers and two uncertain
    parameters: on `firms` a lever leads (6 against 4), on `cost` an uncertain parameter does (8 against 2)."""
    text = TINY.format(method="morris", samples=4).replace(
        'range = [0.0, 1e6]', 'range = [0.0, 1e6]\nrole = "lever"') + (
        '[factors.trend]\nkeys = ["economy.productivity_trend"]\nrange = "prior"\n')
    spec = sensitivity.load_spec(write(tmp_path, text))
    assert dict(zip([f.name for f in spec.factors], spec.roles)) == {
        "intercept": "uncertain", "conference_cost": "lever", "subsidy": "lever", "trend": "uncertain"}
    mu_star = {"firms": {"subsidy": 6.0, "intercept": 4.0, "conference_cost": 1.0, "trend": 0.5},
               "cost": {"intercept": 8.0, "subsidy": 2.0, "trend": 1.0, "conference_cost": 0.5}}
    firms, cost = _report_of(tmp_path, spec, mu_star, 0.1)
    assert "`subsidy` (rank 1), has 1.5 times" in firms and "`intercept` (rank 2)" in firms
    assert "the policy choice matters more than what the evidence leaves open" in firms
    assert "`subsidy` (rank 2), has 0.25 times" in cost and "`intercept` (rank 1)" in cost
    assert "what the evidence leaves open matters more than this policy choice" in cost


def _pure_noise_design(spec, trajectories: int, shift_sd: float, seed: int = 2):
    """A Morris design of ``trajectories`` in the spec's problem, and runs (points x seeds x 1 output) of pure noise:
    each run a N(0, 3) draw plus its seed's shift (sd ``shift_sd``), which every point shares (common random
    numbers), and the points' means."""
    import numpy as np
    from SALib.sample import morris as sample

    x = sample.sample(spec.problem(), N=trajectories, num_levels=spec.levels, seed=1)
    rng = np.random.default_rng(seed)
    runs = rng.normal(0.0, 3.0, (len(x), len(spec.seeds))) + rng.normal(0.0, shift_sd, len(spec.seeds))
    return x, runs[:, :, None]


def test_the_elementary_effects_are_salib_s(tmp_path):
    """The per-seed elementary effects the noise is measured from: over a design's mean output their mean absolute
    value is SALib's mu* and their mean SALib's mu, factor by factor."""
    import numpy as np
    from SALib.analyze import morris as analyze

    spec = sensitivity.load_spec(write(tmp_path))
    x, runs = _pure_noise_design(spec, 50, 0.0)
    y = runs[:, :, 0].mean(axis=1) + 40 * x[:, 0] ** 2  # a non-linear effect of the first factor
    r = analyze.analyze(spec.problem(), x, y, num_levels=spec.levels, seed=1)
    ee = sensitivity.elementary_effects(spec, x, y)
    assert np.abs(ee).mean(axis=0) == pytest.approx(np.asarray(r["mu_star"]), rel=1e-12)
    assert ee.mean(axis=0) == pytest.approx(np.asarray(r["mu"]), rel=1e-12)
    per_seed = sensitivity.elementary_effects(spec, x, runs[:, :, 0])
    assert per_seed.mean(axis=2) == pytest.approx(sensitivity.elementary_effects(spec, x, runs[:, :, 0].mean(axis=1)))


@pytest.mark.parametrize("shift_sd", [0.0, 30.0])
def test_the_morris_noise_level_is_the_mu_star_that_seed_noise_alone_gives(tmp_path, shift_sd):
    """The report's yardstick: what mu* would pure seed noise show? Each design point's output is the mean over the
    spec's seeds (two here). SALib's own Morris analysis of such pure noise (2,000 trajectories: a standard error of
    under 1 %) must give each factor's level the report states. A seed's shift shared by every point (sd 30, ten
    times a run's own noise) moves no elementary effect, so it must not move the level either: the level the report
    used until 2026-12-07, from the seeds' variance at each point, was about ten times too high with it."""
    import numpy as np
    from SALib.analyze import morris as analyze

    spec = sensitivity.load_spec(write(tmp_path))
    assert len(spec.seeds) == 2 and spec.levels == 4
    x, runs = _pure_noise_design(spec, 2000, shift_sd)
    mu_star = np.asarray(analyze.analyze(spec.problem(), x, runs[:, :, 0].mean(axis=1), num_levels=spec.levels,
                                         seed=1)["mu_star"])
    spec = dataclasses.replace(spec, outputs=spec.outputs[:1])
    noise = sensitivity.noise_levels(spec, x, runs)["firms"]
    assert noise.shape == (3,) and noise == pytest.approx(mu_star, rel=0.06), (noise, mu_star)


def test_the_sobol_noise_share_leaves_out_the_shift_every_point_shares(tmp_path):
    """Sobol: the share of the output's variance that is noise in a point's mean. With a signal of variance 100 and
    runs' own noise of sd 3 on two seeds, it is 4.5 / 104.5 whatever a seed's shared shift (sd 30) adds to each
    point's spread over the seeds."""
    import numpy as np

    spec = sensitivity.load_spec(write(tmp_path, method="sobol", samples=4))
    spec = dataclasses.replace(spec, outputs=spec.outputs[:1])
    rng = np.random.default_rng(4)
    signal = rng.normal(0, 10, 20_000)
    runs = (signal[:, None] + rng.normal(0, 3, (20_000, 2)) + rng.normal(0, 30, 2))[:, :, None]
    share = sensitivity.noise_levels(spec, np.zeros((20_000, 3)), runs)["firms"]
    assert share == pytest.approx(4.5 / 104.5, rel=0.05)


def test_the_report_says_when_the_lever_and_the_parameter_cannot_be_told_apart(tmp_path):
    """A lever at 5 +- 2 and an uncertain parameter at 4 +- 2 (95 % half-widths): their intervals overlap, so the
    report names no winner; with both at zero it says neither moves the output."""
    text = TINY.format(method="morris", samples=4).replace(
        'range = [0.0, 1e6]', 'range = [0.0, 1e6]\nrole = "lever"')
    spec = sensitivity.load_spec(write(tmp_path, text))
    firms, cost = _report_of(tmp_path, spec, {"firms": {"subsidy": 5.0, "intercept": 4.0, "conference_cost": 1.0},
                                              "cost": {"subsidy": 0.0, "intercept": 0.0, "conference_cost": 0.0}}, 2.0)
    assert "whose 95 % intervals overlap: at this sample it cannot be told which matters more" in firms
    assert "matters more than" not in firms
    assert "neither moves the output" in cost


def test_a_posterior_range_holds_the_middle_90_percent_of_that_parameter_s_posterior(tmp_path):
    """range = "posterior" is the 5-95 % interval of the shipped calibration posterior of the factor's own parameter:
    about 90 % of the posterior's weight lies inside it, and it lies within the parameter's prior. How far from 5 %
    each tail may be is set by the heaviest particle (stats.weighted_quantile interpolates between particles placed
    at the middle of their weight): at most half of it beyond 5 % in a tail, so at least 90 % less one particle's
    weight inside. The eighth calibration's posterior is lumpy (effective sample 17, the heaviest particle 0.18 of
    the weight), where the seventh's (3,009) gave 88-92 % inside every interval."""
    import numpy as np

    from simmodel.analysis.calibrate import load_priors
    from simmodel.analysis.posterior import Posterior

    post = Posterior.load()
    priors = {p.key: p for p in load_priors().parameters}
    body = {f"f{j}": {"keys": [k], "range": "posterior"} for j, k in enumerate(post.keys)}
    factors, roles, ranges_from = sensitivity.factors_from(tmp_path / "s.toml", body)
    assert len(factors) == len(post.keys) >= 2 and set(roles) == {"uncertain"}
    w = post.weights / post.weights.sum()
    tail = 0.05 + 0.5 * w.max() + 1e-12
    for j, (f, key) in enumerate(zip(factors, post.keys)):
        x = post.theta[:, j]  # the column of the file headed by the parameter's key
        inside = w[(x >= f.low) & (x <= f.high)].sum()
        assert inside >= 1.0 - 2.0 * tail, (key, f.low, f.high, inside)
        assert priors[key].low <= f.low < f.high <= priors[key].high, (key, f.low, f.high)
        assert np.sum(w[x < f.low]) <= tail and np.sum(w[x > f.high]) <= tail, key
        # and the ends are the weighted quantiles, each particle at the middle of its weight (written out here), so a
        # range of the prior or of unweighted particles fails, which the tails above allow when a particle is heavy
        xs, ws = x[np.argsort(x)], w[np.argsort(x)]
        middle = np.cumsum(ws) - 0.5 * ws
        assert (f.low, f.high) == pytest.approx((np.interp(0.05, middle, xs), np.interp(0.95, middle, xs)), rel=1e-9)


def test_a_design_with_a_failed_run_is_not_analysed_and_exits_3(tmp_path, fail_runs, capsys):
    """The indices need every design point on every seed: a failed run leaves the run table but no indices or report
    (exit 3, the failure said), and --resume retries it and then analyses."""
    calls = []

    def third(params, seed):  # the third run of the design fails
        calls.append(seed)
        return len(calls) == 3

    text = TINY.format(method="morris", samples=2).replace('end = "2014-12"', 'end = "2013-12"').replace(
        "year = 2014", "year = 2013")
    path, out = write(tmp_path, text), tmp_path / "m"
    fail_runs(third)
    assert main(["sensitivity", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 3
    assert "1 of 16 runs failed" in capsys.readouterr().err
    assert (out / "table.csv").is_file() and len(list((out / "runs").glob("*.err"))) == 1
    assert not (out / "indices.csv").exists() and not (out / "report.md").exists()
    fail_runs(None)
    assert main(["sensitivity", str(path), "--out", str(out), "--workers", "1", "--quiet", "--resume"]) == 0
    assert (out / "indices.csv").is_file() and (out / "report.md").is_file()

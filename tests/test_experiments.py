"""Replications and comparisons from the command line: outputs, common random numbers, bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from simmodel.cli import main

FAST = ["--scale", "0.004", "--end", "2015-12", "--workers", "1", "--quiet"]


def _png_ok(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_replications_write_per_seed_rows_a_summary_and_figures(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "--seeds", "3", "--out", str(out), *FAST]) == 0
    yearly = pd.read_csv(out / "yearly.csv")
    assert sorted(yearly.seed.unique()) == [1, 2, 3]
    summary = pd.read_csv(out / "summary.csv", dtype={"period": str})
    row = summary[(summary.region == "Zhejiang") & (summary.sector == "all") & (summary.indicator == "projects_started")
                  & (summary.period == "2015")].iloc[0]
    vals = yearly[(yearly.region == "Zhejiang") & (yearly.sector == "all") & (yearly.indicator == "projects_started")
                  & (yearly.period == 2015)].value
    assert row["mean"] == pytest.approx(vals.mean()) and row.seeds == 3
    # the band is the 5 % and 95 % points of the seeds' values (linear interpolation; rel=1e-9: the CSV's digits)
    assert (row.p05, row.p95) == pytest.approx(tuple(np.quantile(vals, [0.05, 0.95])), rel=1e-9)
    for f in ("headline.png", "stages.png", "cities.png"):
        assert _png_ok(out / "figures" / f), f
    man = json.loads((out / "manifest.json").read_text())
    assert man["seeds"] == [1, 2, 3] and man["runs"] == {"planned": 3, "ok": 3, "failed": 0, "allow_failures": False,
                                                        "failures": []}


def test_replications_on_dask_give_the_same_bytes_as_in_process(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", "--seeds", "3", "--out", str(a), *FAST]) == 0
    fast = [x for x in FAST if x not in ("--workers", "1")]
    assert main(["run", "--seeds", "3", "--workers", "2", "--out", str(b), *fast]) == 0
    for f in ("yearly.csv", "monthly.csv", "summary.csv"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_comparing_a_scenario_with_itself_gives_zero_difference(tmp_path):
    out = tmp_path / "c"
    assert main(["compare", "baseline", "no_policy", "--seeds", "2", "--out", str(out),
                 *FAST]) == 0
    same = tmp_path / "s"
    twin = tmp_path / "twin.toml"
    twin.write_text('# Question: the baseline again\ninherits = "baseline"\n')
    assert main(["compare", "baseline", str(twin), "--seeds", "2", "--out", str(same), *FAST]) == 0
    comp = pd.read_csv(same / "comparison.csv")
    effect = ["scen_minus_ref_mean", "scen_minus_ref_p50", "scen_minus_ref_pct_mean"]
    assert len(comp) > 100 and (comp[effect].abs().fillna(0) == 0).all().all()
    diff = pd.read_csv(out / "comparison.csv")
    firms = diff[(diff.indicator == "firms_stage_1plus") & (diff.period == 2015)].iloc[0]
    assert firms["scen_minus_ref_mean"] < 0  # no policy: fewer firms transformed than the baseline


def test_compare_writes_report_tables_and_figures(tmp_path):
    out = tmp_path / "c"
    assert main(["compare", "baseline", "no_leasing", "no_subsidy", "--seeds", "2", "--out", str(out), *FAST]) == 0
    report = (out / "report.md").read_text()
    assert "![effects](figures/effects.png)" in report and "no_subsidy" in report
    effects = pd.read_csv(out / "effects.csv")
    assert set(effects.scenario) == {"no_leasing", "no_subsidy"}
    assert set(effects.metric) == {"firms_stage_1plus", "labour_productivity_above", "tech_investment", "cloud_firms",
                                   "public_cost"}
    cost = pd.read_csv(out / "cost_effectiveness.csv")
    assert cost.set_index("scenario").loc["no_subsidy", "scen_minus_ref_public_cost"] < 0  # no subsidy: less paid
    for f in ("effects.png", "differences.png"):
        assert _png_ok(out / "figures" / f), f
    for name in ("baseline", "no_leasing", "no_subsidy"):
        assert (out / "scenarios" / name / "yearly.csv").exists()


def test_a_switched_off_channel_is_off_in_the_outputs(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "--scenario", "no_leasing", "--out", str(out), *FAST]) == 0
    y = pd.read_csv(out / "yearly.csv")
    leases = y[y.indicator.str.startswith("leases_")].value
    assert len(leases) > 0 and (leases == 0).all()


@pytest.mark.parametrize("args,fragment", [
    (["compare", "baseline"], "at least two scenarios"),
    (["compare", "baseline", "nope"], "unknown scenario"),
    (["compare", "baseline", "baseline"], "each scenario may appear once"),
    (["run", "--seeds", "0"], "--seeds"),
    (["run", "--workers", "0"], "--workers"),
    (["compare", "baseline", "no_fund", "--set", "cities.purchase_rate=9"], "must be a number in"),
])
def test_bad_experiment_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, fragment):
    out = tmp_path / "x"
    assert main([*args, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not out.exists()


def test_cyclic_scenario_file_from_the_cli(tmp_path, capsys):
    (tmp_path / "a.toml").write_text('inherits = "b.toml"\n')
    (tmp_path / "b.toml").write_text('inherits = "a.toml"\n')
    assert main(["run", "--scenario", str(tmp_path / "a.toml"), "--out", str(tmp_path / "x")]) == 2
    assert "cycle" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_interrupted_run_leaves_no_folder(tmp_path, monkeypatch):
    from simmodel.analysis import experiments

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(experiments, "summarise", boom)
    out = tmp_path / "r"
    assert main(["run", "--out", str(out), *FAST]) == 130
    assert not out.exists() and list(tmp_path.iterdir()) == []

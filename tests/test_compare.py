"""Comparisons a modeller can quote: one sign convention (scenario minus reference), the years asked for,
no band drawn from too few runs, costs per extra adopter that are ratios of mean differences with a
reproducible bootstrap interval whatever the order of the scenarios, and runs named by what changed.

The table logic is tested on synthetic runs (no model needed); the command line on tiny runs (scale 0.004
or less, to 2015 at most).
"""

from __future__ import annotations

import json
import re

import matplotlib.axes
import numpy as np
import pandas as pd
import pytest

from simmodel.analysis import contributions, experiments, plots
from simmodel.analysis.stats import MIN_BAND_RUNS, bootstrap_ratio
from simmodel.cli import main

FAST = ["--scale", "0.004", "--end", "2015-12", "--workers", "1"]
INDICATORS = ("firms_stage_1plus", "labour_productivity_above", "tech_investment", "cloud_firms", "public_cost",
              "subsidy_robots", "subsidy_awards", "subsidy_pilots", "subsidy_vouchers", "shared_support", "running_cost",
              "value_added",
              "conferences_held", "diagnoses")
YEARS = (2013, 2014, 2015)


def runs(value, seeds=range(1, 13)) -> pd.DataFrame:
    """Tidy yearly rows of synthetic runs, as compare reads them: ``value(seed, year, indicator)``."""
    rows = [(s, str(y), "Zhejiang", "all", ind, float(value(s, y, ind))) for s in seeds for y in YEARS
            for ind in INDICATORS]
    return pd.DataFrame(rows, columns=["seed", "period", "region", "sector", "indicator", "value"])


def reference(s, y, ind):
    return {"firms_stage_1plus": 50_000 + 100 * s, "public_cost": 1e8, "subsidy_awards": 1e8,
            "value_added": 1e12}.get(ind, 1000.0 + s)


def expansion(s, y, ind):
    """More money (awards) that buys firms (and value added), with seed noise."""
    extra = {"firms_stage_1plus": 400 + 37 * (s % 5), "public_cost": 2e8, "subsidy_awards": 2e8,
             "value_added": 5e8 + 1e7 * (s % 3), "tech_investment": 1e6, "cloud_firms": 3.0}.get(ind, 0.0)
    return reference(s, y, ind) + extra * (y - 2012) / 3


def tables(frames: dict, years=None) -> dict:
    return experiments.comparison_tables(frames, list(frames), years)


# --- one sign convention ------------------------------------------------------------------------------
def test_an_expansion_has_a_positive_effect_in_every_table():
    t = tables({"baseline": runs(reference), "more": runs(expansion)})
    comp = t["comparison"]
    firms = comp[comp.indicator == "firms_stage_1plus"]
    assert (firms[["scen_minus_ref_mean", "scen_minus_ref_p05", "scen_minus_ref_p95",
                   "scen_minus_ref_pct_mean"]] > 0).all().all()
    e = t["effects"].set_index("metric")
    for m in ("firms_stage_1plus", "tech_investment", "cloud_firms", "public_cost"):
        assert e.loc[m, "scen_minus_ref_mean"] > 0 and e.loc[m, "scen_minus_ref_pct_mean"] > 0, m
    assert e.loc["public_cost", "period"] == "2013-2015"  # a flow summed to the year
    assert e.loc["public_cost", "scen_minus_ref_mean"] == pytest.approx(2e8 * (1 + 2 + 3) / 3)
    cost = t["cost"].iloc[0]
    assert cost.scen_minus_ref_public_cost > 0 and cost.reading_per_firms_stage_1plus == "costs_per_extra"
    bars = experiments.bar_rows(t["effects"])
    assert (bars[bars.metric == "firms_stage_1plus"][["mean", "p05", "p95"]] > 0).all().all()
    # the instrument's contribution is a separate, named quantity: positive for an instrument that adds firms
    spec = contributions.Spec("baseline", (contributions.Instrument("more", "More", "+", "", "", "adds"),), None)
    c = contributions.table(spec, t["effects"]).set_index("metric").loc["firms_stage_1plus"]
    assert c.definition == "more minus baseline" and c.contribution_mean > 0


def test_a_contribution_is_minus_the_effect_of_switching_an_instrument_off():
    t = tables({"baseline": runs(expansion), "no_more": runs(reference)})
    e = t["effects"].set_index("metric").loc["firms_stage_1plus"]
    assert e.scen_minus_ref_mean < 0  # the effect of switching it off: fewer firms
    spec = contributions.Spec("baseline", (contributions.Instrument("no_more", "More", "+", ""),), None)
    c = contributions.table(spec, t["effects"]).set_index("metric").loc["firms_stage_1plus"]
    assert c.definition == "baseline minus no_more"
    assert (c.contribution_mean, c.contribution_p05, c.contribution_p95) == pytest.approx(
        (-e.scen_minus_ref_mean, -e.scen_minus_ref_p95, -e.scen_minus_ref_p05))
    assert contributions.rows(spec, contributions.table(spec, t["effects"]))[0]["verdict"] == "as claimed"


def test_the_sign_is_stated_in_the_report_the_printout_and_every_figure_title(tmp_path, capsys, monkeypatch):
    titles, bars = [], []
    real_save, real_bars = plots._save, plots.effect_bars

    def save(fig, path):
        titles.append(fig._suptitle.get_text() if fig._suptitle else "")
        return real_save(fig, path)

    def spy_bars(table, *a, **k):
        bars.append(table)
        return real_bars(table, *a, **k)
    monkeypatch.setattr(plots, "_save", save)
    monkeypatch.setattr(plots, "effect_bars", spy_bars)
    out = tmp_path / "c"
    assert main(["compare", "baseline", "double_fund", "--seeds", "1", "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    compare_titles = titles[-2:]  # effects.png, differences.png
    assert all("scenario minus baseline" in t for t in compare_titles), compare_titles
    b = bars[-1]
    assert b[b.metric == "public_cost"]["mean"].iloc[0] > 0  # a bigger fund pays more: a positive bar
    e = pd.read_csv(out / "effects.csv").set_index("metric")
    assert e.loc["public_cost", "scen_minus_ref_mean"] > 0
    comp = pd.read_csv(out / "comparison.csv")
    assert comp[(comp.indicator == "public_cost") & (comp.period == 2015)].scen_minus_ref_mean.iloc[0] > 0
    report = (out / "report.md").read_text()
    assert "**scenario minus reference**" in report and "## Effect on 2015 outcomes (scenario minus baseline)" in report
    assert "These are 2 readings (scenarios x years x the two outcomes), each at 90 % on its own" in report
    row = next(line for line in report.splitlines() if line.startswith("| `double_fund` | 2015 |"))
    assert row.split(" | ")[-1].startswith("+")  # public cost: a plus sign
    assert "Effect = scenario minus baseline (the reference)" in printed
    line = next(x for x in printed.splitlines() if x.strip().startswith("Public cost, from 2013"))
    assert line.split(")", 1)[1].split()[0].startswith("+")


# --- cost-effectiveness --------------------------------------------------------------------------------
def test_the_cost_per_extra_adopter_is_the_same_in_either_order():
    a = tables({"baseline": runs(reference), "more": runs(expansion)})["cost"].iloc[0]
    b = tables({"more": runs(expansion), "baseline": runs(reference)})["cost"].iloc[0]
    assert a.reading_per_firms_stage_1plus == "costs_per_extra" and b.reading_per_firms_stage_1plus == "saves_per_lost"
    for col in ("yuan_per_firms_stage_1plus", "yuan_per_firms_stage_1plus_lo90", "yuan_per_firms_stage_1plus_hi90",
                "yuan_per_yuan_value_added"):
        assert a[col] == pytest.approx(b[col], rel=1e-12) and a[col] > 0, col
    assert a.yuan_per_firms_stage_1plus_lo90 < a.yuan_per_firms_stage_1plus < a.yuan_per_firms_stage_1plus_hi90
    x = experiments._fmt(a.yuan_per_firms_stage_1plus)
    assert experiments.cost_text(a).startswith(f"costs {x} yuan per extra firm at stage >= 1 [90 %: ")
    assert experiments.cost_text(b).startswith(f"saves {x} yuan per firm at stage >= 1 lost [90 %: ")


def test_cost_per_adopter_is_the_ratio_of_mean_differences_not_the_mean_of_ratios():
    # the same extra cost on every seed; extra firms 10 on half the seeds and 1000 on the others:
    # ratio of means 1e6 / 505 = 1,980 yuan a firm; the mean of per-seed ratios would be 50,500
    def cheap(s, y, ind):
        extra = {"public_cost": 1e6 / 3, "subsidy_awards": 1e6 / 3,
                 "firms_stage_1plus": 10 if s % 2 else 1000}.get(ind, 0.0)
        return reference(s, y, ind) + extra
    cost = tables({"baseline": runs(reference), "cheap": runs(cheap)})["cost"].iloc[0]
    assert cost.yuan_per_firms_stage_1plus == pytest.approx(1e6 / 505)
    assert cost.scen_minus_ref_public_cost == pytest.approx(1e6)
    b = bootstrap_ratio([1.0, 1.0, 10.0] * 4, [1.0, 10.0, 1.0] * 4)
    assert b["ratio"] == pytest.approx(1.0)  # mean of the ratios: (1 + 0.1 + 10) / 3 = 3.7


def test_the_bootstrap_interval_is_reproducible_and_resamples_runs(tmp_path):
    x = np.arange(1.0, 13.0)
    a, b = bootstrap_ratio(3 * x + 1, x), bootstrap_ratio(3 * x + 1, x)
    assert a == b and a["lo"] < a["ratio"] < a["hi"]
    assert np.isnan(bootstrap_ratio(x[:MIN_BAND_RUNS - 1], x[:MIN_BAND_RUNS - 1])["lo"])  # too few runs: none
    frames = {"baseline": runs(reference), "more": runs(expansion)}
    for name in ("one.csv", "two.csv"):
        experiments.write_summary(tables(frames)["cost"], tmp_path / name)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    # over posterior draws the ratio is the same; its interval resamples draws (the next test)
    drawn = {n: f.assign(draw=(f.seed - 1) // 4)[["seed", "draw", *f.columns[1:]]] for n, f in frames.items()}
    assert tables(drawn)["cost"].iloc[0].yuan_per_firms_stage_1plus == pytest.approx(
        tables(frames)["cost"].iloc[0].yuan_per_firms_stage_1plus)
    assert "(indicative: 3 posterior draws, too few for an interval)" in experiments.cost_text(
        tables(drawn)["cost"].iloc[0])


def test_over_posterior_draws_the_bootstrap_resamples_draws_with_their_seeds():
    """Over the posterior the replications are the draws (stats.mean_se): a draw's runs are resampled together.
    Twelve draws each run on three seeds that agree give the interval of the twelve draws alone, where resampling
    the 36 runs one by one would give a narrower one; nine draws give no interval however many seeds each has."""
    x = np.arange(1.0, 13.0)
    alone = bootstrap_ratio(3 * x + 1, x + np.sin(x))
    num, den, draw = np.repeat(3 * x + 1, 3), np.repeat(x + np.sin(x), 3), np.repeat(np.arange(12), 3)
    b = bootstrap_ratio(num, den, clusters=draw)
    assert (b["n"], b["units"]) == (36, 12) and b["ratio"] == pytest.approx(alone["ratio"])
    for k in ("lo", "hi", "den_lo", "den_hi"):
        assert b[k] == pytest.approx(alone[k]), k
    runs_alone = bootstrap_ratio(num, den)
    assert runs_alone["den_hi"] - runs_alone["den_lo"] < 0.8 * (b["den_hi"] - b["den_lo"])
    few = bootstrap_ratio(num[:27], den[:27], clusters=draw[:27])
    assert few["units"] == 9 and np.isnan(few["lo"]) and experiments.cost_reading(few).startswith("too_few_runs_")


def test_over_posterior_draws_an_effects_interval_is_over_the_draws_means():
    """The effects table over posterior draws: a scenario whose effect differs by draw (and a little by seed) has
    the Student-t interval of its ten draws' mean effects, and says it rests on 10 replications, not 40."""
    from scipy import stats as st

    def draw_of(s):
        return (s - 1) // 4

    lift = np.random.default_rng(5).normal(500.0, 300.0, 10)

    def more(s, y, ind):
        extra = {"firms_stage_1plus": lift[draw_of(s)] + 7 * (s % 4), "public_cost": 1000.0 * lift[draw_of(s)]}
        return reference(s, y, ind) + extra.get(ind, 0.0)
    order = np.random.default_rng(6).permutation(40 * len(YEARS) * len(INDICATORS))  # the rows in any order
    frames = {n: f.assign(draw=draw_of(f.seed))[["seed", "draw", *f.columns[1:]]].iloc[order]
              for n, f in {"baseline": runs(reference, range(1, 41)), "more": runs(more, range(1, 41))}.items()}
    e = tables(frames)["effects"].set_index("metric").loc["firms_stage_1plus"]
    per_run = np.array([lift[draw_of(s)] + 7 * (s % 4) for s in range(1, 41)])
    means = per_run.reshape(10, 4).mean(axis=1)
    half = st.t.ppf(0.975, 9) * means.std(ddof=1) / np.sqrt(10)
    assert (e.runs, e.units) == (40, 10)
    assert (e.scen_minus_ref_mean_lo95, e.scen_minus_ref_mean_hi95) == pytest.approx(
        (per_run.mean() - half, per_run.mean() + half))
    # a flow summed over the years (public cost, 2013-2015): its draws are its own runs', whatever the rows' order
    spent = 3 * 1000.0 * lift
    e = tables(frames)["effects"].set_index("metric").loc["public_cost"]
    half = st.t.ppf(0.975, 9) * spent.std(ddof=1) / np.sqrt(10)
    assert (e.scen_minus_ref_mean_lo95, e.scen_minus_ref_mean_hi95) == pytest.approx(
        (spent.mean() - half, spent.mean() + half))
    cost = tables(frames)["cost"].iloc[0]
    assert (cost.replications, cost.units_firms_stage_1plus, cost.units_value_added) == ("draws", 10, 10)
    # and the contributions table reads its verdict off the same draws, at its own level
    spec = contributions.Spec("baseline", (contributions.Instrument("more", "More", "+", "", "", "adds"),), None)
    c = contributions.table(spec, tables(frames)["effects"]).set_index("metric").loc["firms_stage_1plus"]
    half = st.t.ppf(0.5 + c.level / 2, 9) * means.std(ddof=1) / np.sqrt(10)
    assert c.units == 10 and (c.contribution_mean_lo, c.contribution_mean_hi) == pytest.approx(
        (per_run.mean() - half, per_run.mean() + half))


def test_an_effect_on_adopters_that_covers_zero_is_no_measurable_effect():
    def noise(s, y, ind):
        extra = {"public_cost": 1e6, "subsidy_awards": 1e6, "firms_stage_1plus": (-1) ** s * 50}.get(ind, 0.0)
        return reference(s, y, ind) + extra
    cost = tables({"baseline": runs(reference), "noise": runs(noise)})["cost"].iloc[0]
    assert cost.scen_minus_ref_firms_stage_1plus_lo90 < 0 < cost.scen_minus_ref_firms_stage_1plus_hi90
    assert cost.reading_per_firms_stage_1plus == "no_measurable_effect"
    assert experiments.cost_text(cost) == "no measurable effect"


def test_a_scenario_that_saves_money_and_adds_adopters_reads_so():
    def better(s, y, ind):
        extra = {"public_cost": -1e6, "subsidy_awards": -1e6, "firms_stage_1plus": 300 + s}.get(ind, 0.0)
        return reference(s, y, ind) + extra
    cost = tables({"baseline": runs(reference), "better": runs(better)})["cost"].iloc[0]
    assert cost.reading_per_firms_stage_1plus == "saves_and_adds"
    assert "no trade-off" in experiments.cost_text(cost)


def test_a_cost_difference_that_covers_zero_gives_no_direction_of_cost():
    """300 more adopters on every seed, and a public cost 1 m yuan lower on average but swinging by 50 m either way
    from seed to seed: the cost's 90 % interval covers zero, so the reading names no saving (a review found the sign
    of the mean alone read as 'no trade-off' half the time when the true cost effect was zero)."""
    def swing(s, y, ind):
        extra = {"public_cost": -1e6 + (-1) ** s * 5e7, "subsidy_awards": -1e6 + (-1) ** s * 5e7,
                 "firms_stage_1plus": 300 + s}.get(ind, 0.0)
        return reference(s, y, ind) + extra
    cost = tables({"baseline": runs(reference), "swing": runs(swing)})["cost"].iloc[0]
    assert cost.scen_minus_ref_public_cost < 0 and cost.scen_minus_ref_firms_stage_1plus_lo90 > 0
    assert cost.reading_per_firms_stage_1plus == "adds_at_no_measurable_cost"
    assert experiments.cost_text(cost) == "more firms at stage >= 1 at no measurable change in public cost"


# --- years, seeds and bands ------------------------------------------------------------------------------
def test_year_selects_the_years_of_the_tables(tmp_path, capsys):
    t = tables({"baseline": runs(reference), "more": runs(expansion)})
    assert t["years"] == [2015] and set(t["effects"].year) == {2015}  # default: the last year of the run
    out = tmp_path / "c"
    assert main(["compare", "baseline", "no_subsidy", "--seeds", "1", "--year", "2015", "2014", "--out", str(out),
                 *FAST]) == 0
    printed = capsys.readouterr().out
    assert set(pd.read_csv(out / "effects.csv").year) == {2014, 2015}
    cost = pd.read_csv(out / "cost_effectiveness.csv")
    assert list(cost.year) == [2014, 2015] and (cost.from_year == 2013).all()
    assert "**Years:** 2014, 2015 (chosen with --year)" in (out / "report.md").read_text()
    assert "in 2014, 2015 (chosen with --year)" in printed and "no_subsidy 2014" in printed
    assert json.loads((out / "manifest.json").read_text())["years"] == [2014, 2015]


@pytest.mark.parametrize("years", [["2016"], ["2012"], ["2014", "2031"]])
def test_a_year_outside_the_run_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, years):
    out = tmp_path / "c"
    assert main(["compare", "baseline", "no_fund", "--year", *years, "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert "--year" in err and "2013-2015" in err and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_run_ending_before_december_compares_its_last_complete_year_and_says_why(tmp_path, capsys):
    """A run to 2015-06 holds half of 2015: its flows are of six months, and a growth rate compares them with the
    whole of 2014 (the labour productivity and tech investment of half a year read as a fall). By default the
    tables are of 2014, the last complete year; --year 2015 is refused; the cut year is named on stderr."""
    out = tmp_path / "c"
    half = ["--scale", "0.004", "--end", "2015-06", "--workers", "1", "--seeds", "1"]
    assert main(["compare", "baseline", "no_fund", "--out", str(out), *half]) == 0
    printed = capsys.readouterr()
    assert set(pd.read_csv(out / "effects.csv").year) == {2014}
    assert "(the last complete year of the run; --year for others)" in printed.out
    assert "2015 is January-June only" in printed.err
    assert main(["compare", "baseline", "no_fund", "--year", "2015", "--out", str(tmp_path / "d"), *half]) == 2
    err = capsys.readouterr().err
    assert "must be a complete year of the run, 2013-2014" in err and err.count("\n") == 1


def test_compare_defaults_to_enough_seeds_for_its_band():
    from simmodel.cli import build_parser

    assert build_parser().parse_args(["compare", "baseline", "no_fund"]).seeds >= MIN_BAND_RUNS


def test_compare_with_one_seed_draws_no_band_and_says_so(tmp_path, capsys, monkeypatch):
    drawn, titles = [], []
    real_fill, real_save = matplotlib.axes.Axes.fill_between, plots._save
    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between",
                        lambda self, *a, **k: drawn.append(1) or real_fill(self, *a, **k))
    monkeypatch.setattr(plots, "_save", lambda fig, path: titles.append(fig._suptitle.get_text()) or
                        real_save(fig, path))
    out = tmp_path / "c"
    assert main(["compare", "baseline", "no_subsidy", "--seeds", "1", "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "no 5-95 % band" in line]
    assert len(notes) == 1 and "1 run" in notes[0]
    assert not drawn  # no band in differences.png ...
    assert all("no 5-95 % band: 1 run" in t and "band over" not in t for t in titles)  # ... and the titles say why
    comp = pd.read_csv(out / "comparison.csv")
    assert comp.scen_minus_ref_p05.isna().all() and comp.scen_minus_ref_p95.isna().all()
    report = (out / "report.md").read_text()
    assert "no 5-95 % band: 1 run" in report and "band over 1 seed" not in report


def test_run_with_one_seed_draws_no_band_in_its_figures(tmp_path, monkeypatch):
    drawn, titles = [], []
    real_fill, real_save = matplotlib.axes.Axes.fill_between, plots._save
    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between",
                        lambda self, *a, **k: drawn.append(id(self.figure)) or real_fill(self, *a, **k))
    monkeypatch.setattr(plots, "_save", lambda fig, path: titles.append((path.name, id(fig), " ".join(
        [fig._suptitle.get_text() if fig._suptitle else "", *(ax.get_title() for ax in fig.axes)]))) or
        real_save(fig, path))
    assert main(["run", "--out", str(tmp_path / "r"), "--quiet", "--scale", "0.003", "--end", "2014-12"]) == 0
    figures = {name: (fig, title) for name, fig, title in titles}
    for name in ("headline.png", "cities.png"):  # the figures with bands (stages.png stacks shares: no band)
        fig, title = figures[name]
        assert fig not in drawn, name
        assert "band over" not in title and re.search(r"no (5-95 % )?band", title), (name, title)


# --- runs named by what changed -------------------------------------------------------------------------
def test_a_set_run_is_named_by_its_keys_in_folder_header_and_manifest(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = ["--scale", "0.003", "--end", "2013-06", "--workers", "1"]
    assert main(["run", "--set", "cities.purchase_rate=0.2", "--set", "government.special_fund_budget=4e8",
                 *tiny]) == 0
    printed = capsys.readouterr().out
    (folder,) = (tmp_path / "results").iterdir()
    assert re.fullmatch(r"baseline\+set-2keys-[0-9a-f]{6}-s1-\d{8}-\d{6}", folder.name), folder.name
    man = json.loads((folder / "manifest.json").read_text())
    keys = {"cities.purchase_rate": 0.2, "government.special_fund_budget": 4e8}
    assert man["label"] == folder.name.split("-s1-")[0] and man["changed_keys"] == keys and man["set"] == keys
    assert man["changed_against"] == "baseline" and man["scenario"] == "baseline"
    head = printed.splitlines()[0]
    assert head.startswith(man["label"] + " = baseline with --set ")
    assert "cities.purchase_rate=0.2" in head and "government.special_fund_budget=400000000.0" in head
    assert printed.splitlines()[1].startswith(man["label"] + ": seeds 1..1")
    # a file of one's own is labelled as such, with its keys against the calibrated baseline
    own = tmp_path / "mine.toml"
    own.write_text('# Question: a richer city budget\ninherits = "baseline"\n[cities]\nbudget_total = 2e9\n')
    assert main(["run", "--scenario", str(own), "--quiet", *tiny]) == 0
    (mine,) = (f for f in (tmp_path / "results").iterdir() if f != folder)
    assert re.fullmatch(r"mine\+file-1key-[0-9a-f]{6}-s1-.*", mine.name), mine.name
    man = json.loads((mine / "manifest.json").read_text())
    assert man["changed_keys"] == {"cities.budget_total": 2e9} and man["custom_file"] == str(own)



def test_a_short_runs_headline_shows_its_own_years_ticked_as_years(tmp_path, monkeypatch):
    """A run ending 2014: the year axis spans 2013-2014 with whole-year ticks, and no reported figure of a later
    year (productivity 2015 and 2016, investment and robots 2016) is drawn or stretches an axis."""
    from simmodel.model.indicators import HEADLINE
    rows = [("Zhejiang", "all", name, str(y), 100.0 + y - 2013, 1) for name in HEADLINE for y in (2013, 2014)]
    summary = pd.DataFrame(rows, columns=["region", "sector", "indicator", "period", "mean", "seeds"])
    drawn, figs = [], []
    real_bar, real_save = matplotlib.axes.Axes.errorbar, plots._save
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar",
                        lambda self, x, *a, **k: drawn.extend(x) or real_bar(self, x, *a, **k))
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig) or real_save(fig, path))
    plots.headline(summary, tmp_path / "h.png", "short")
    assert drawn and set(drawn) <= {2013, 2014}, drawn  # productivity 2013 is reported and drawn; nothing later
    for ax in (a for a in figs[0].axes if a.get_visible()):
        assert ax.get_xlim() == (2012.5, 2014.5)
        ticks = [t for t in ax.get_xticks() if 2012.5 <= t <= 2014.5]
        assert ticks == [2013, 2014], ticks



def test_a_run_to_2030_ticks_few_enough_years_to_keep_their_labels_apart(tmp_path, monkeypatch):
    """A run to 2030 (18 years): whole-year ticks, no more than seven on an axis; with a tick every year or two the
    labels of the panels' year axes ran into each other at the figure's width."""
    from simmodel.model.indicators import HEADLINE
    rows = [("Zhejiang", "all", name, str(y), 100.0 + y - 2013, 1) for name in HEADLINE for y in range(2013, 2031)]
    summary = pd.DataFrame(rows, columns=["region", "sector", "indicator", "period", "mean", "seeds"])
    figs = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig) or real_save(fig, path))
    plots.headline(summary, tmp_path / "h.png", "long")
    for ax in (a for a in figs[0].axes if a.get_visible()):
        ticks = [t for t in ax.get_xticks() if 2012.5 <= t <= 2030.5]
        assert all(float(t).is_integer() for t in ticks) and 4 <= len(ticks) <= 7, ticks

def test_the_report_says_how_many_readings_of_measurable_it_makes():
    """Several 'no measurable effect' readings at 90 % each: the report says how many, and what that means
    together (the chance that some effect of zero reads as measurable: 1 - 0.9^k for independent readings)."""
    assert experiments.readings_note(1) == "This is one reading, at 90 %."
    six = experiments.readings_note(6)
    assert "These are 6 readings" in six and "at least one of the 6 does is 47 %" in six  # 1 - 0.9^6 = 0.469
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(2000):  # six independent zero effects, each read off a 90 % interval (normal, known sd)
        hits += bool(np.any(np.abs(rng.standard_normal(6)) > 1.6449))
    assert abs(hits / 2000 - (1 - 0.9**6)) < 0.035  # 3.2 binomial sd of 2,000 tables

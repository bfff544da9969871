"""Scenario discovery (`simmodel discover`): PRIM boxes for an outcome of interest."""

import json

import numpy as np
import pandas as pd
import pytest

from simmodel.analysis import discovery
from simmodel.cli import main

pytest.importorskip("ema_workbench")

TINY = """# Question: where does adoption by 2014 stay low?
design = "lhs"
points = 24
seeds = 1
end = "2014-12"
scale = 0.004
[outputs.firms]
indicator = "firms_stage_1plus"
year = 2014
[interest]
output = "firms"
below = {below}
[prim]
threshold = 0.8
mass_min = 0.1
[factors.intercept]
keys = ["decision.intercept"]
range = "prior"
[factors.conference_cost]
keys = ["demonstration.cost_per_conference"]
range = [0.0, 1e6]
"""


def test_prim_finds_a_planted_box():
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.uniform(0, 1, 400), "b": rng.uniform(0, 1, 400), "c": rng.uniform(0, 1, 400)})
    y = ((x.a > 0.6) & (x.b < 0.5)).to_numpy()  # c plays no part
    box = discovery.find_box(x, y, {"threshold": 0.9, "peel_alpha": 0.05, "paste_alpha": 0.05, "mass_min": 0.05})
    lim = box.limits.set_index("factor")
    assert set(lim.index) == {"a", "b"}
    # within one step: a peel or paste moves an edge past 0.05 (alpha) of the box's points, at most about 0.05 of a
    # uniform factor's range; measured 0.6007 and 0.4996
    assert lim.loc["a", "min"] == pytest.approx(0.6, abs=0.05) and lim.loc["b", "max"] == pytest.approx(0.5, abs=0.05)
    chosen = box.trajectory.loc[box.chosen]
    # density 0.9 is the threshold asked for; coverage measured 1.0 (all 74 cases, the box exact): 0.8 leaves room
    # for an edge a step inside (0.05 of a's 0.4 loses 12 % of the cases)
    assert chosen.density >= 0.9 and chosen.coverage > 0.8
    assert (lim[["qp_low", "qp_high"]].min(axis=1) < 0.05).all()  # both restrictions are significant
    assert lim.loc["a", ["qp_low", "qp_high"]].isna().tolist() == [False, True]  # a is bounded below only


def test_the_box_chosen_holds_the_most_cases_at_the_threshold_not_the_densest_few():
    """Every case of interest lies above a = 0.5: all points above 0.9, five of six between. The box a > 0.5 reaches
    the threshold (density 87 %, above 80 %) with every case in it, so it is chosen (coverage 100 %), though further
    peeling finds denser boxes that hold fewer cases."""
    a = (np.arange(200) + 0.5) / 200
    x = pd.DataFrame({"a": a, "b": np.random.default_rng(1).permutation(a)})  # b plays no part
    y = (a > 0.9) | ((a > 0.5) & (np.arange(200) % 6 != 0))
    box = discovery.find_box(x, y, {"threshold": 0.8, "peel_alpha": 0.05, "paste_alpha": 0.05, "mass_min": 0.05})
    chosen = box.trajectory.loc[box.chosen]
    assert chosen.coverage == 1.0 and chosen.density >= 0.8
    assert box.trajectory.density.max() > chosen.density  # a denser box was there to be taken


def test_the_box_does_not_depend_on_the_order_the_factors_are_listed_in():
    """Cases of interest lie where f0 < 0.3 (90 % of points there, 10 % elsewhere), four other factors play no part
    (200 random points). EMA's PRIM breaks ties between equally good peels by column order: here the file's order
    and its reverse give different boxes (f0 alone against f0 and f2 and f4). Run over seeded orders, the box is the
    same for both, the best one: f0 alone, the only factor that matters, with the most coverage."""
    rng = np.random.default_rng(9)
    x = pd.DataFrame({f"f{i}": rng.uniform(0, 1, 200) for i in range(5)})
    y = np.where(x.f0 < 0.3, rng.random(200) < 0.9, rng.random(200) < 0.1)
    settings = {"threshold": 0.8, "peel_alpha": 0.05, "paste_alpha": 0.05, "mass_min": 0.05}
    backwards = x[x.columns[::-1]]
    assert set(discovery.prim_box(x, y, settings).limits.factor) != set(discovery.prim_box(backwards, y, settings)
                                                                           .limits.factor)
    a, b = discovery.find_box(x, y, settings), discovery.find_box(backwards, y, settings)
    assert list(a.limits.factor) == ["f0"]
    assert b.limits.set_index("factor").equals(a.limits.set_index("factor"))
    assert a.orders == discovery.ORDERS and a.agreement + sum(n for _, n in a.others) == a.orders
    assert f"{a.agreement} of them restrict these factors" in discovery.order_text(a)


def test_among_equally_good_boxes_the_fewest_restrictions_win_over_the_most_frequent(monkeypatch):
    """Two boxes with the same coverage and density: one restricts a alone (PRIM's box when a comes first), one a and
    b (otherwise, so twice as often). A restriction that changes neither coverage nor density is not evidence: the
    box on a alone is chosen, and the report counts the other."""
    def fake(x, y, settings):
        factors = ["a"] if x.columns[0] == "a" else ["a", "b"]
        limits = pd.DataFrame({"factor": factors, "min": 0.0, "max": 0.5, "qp_low": np.nan, "qp_high": 0.01})
        traj = pd.DataFrame({"coverage": [1.0, 1.0], "density": [0.5, 1.0], "mass": [1.0, 0.5],
                             "res_dim": [0, len(factors)]})
        return discovery.Box(traj, 1, limits, 10, 20)

    monkeypatch.setattr(discovery, "prim_box", fake)
    x = pd.DataFrame({"a": [0.0, 1.0], "b": [0.0, 1.0], "c": [0.0, 1.0]})
    box = discovery.find_box(x, np.array([True, False]), {"threshold": 0.8})
    assert list(box.limits.factor) == ["a"]
    assert box.others == [(["a", "b"], box.orders - box.agreement)] and box.orders - box.agreement > box.agreement


def test_a_restriction_that_is_not_significant_is_not_said_to_be_where_the_cases_are(tmp_path):
    """A box restricting the intercept (quasi-p 0.001) and the conference cost (0.4): the words put the cases where
    the intercept is low, and name the conference cost's restriction as possibly chance."""
    path = tmp_path / "d.toml"
    path.write_text(TINY.format(below=1))
    spec = discovery.load_spec(path)
    limits = pd.DataFrame({"factor": ["intercept", "conference_cost"], "min": [-10.0, 1e5], "max": [-7.0, 1e6],
                           "qp_low": [np.nan, 0.4], "qp_high": [0.001, np.nan]})
    traj = pd.DataFrame({"coverage": [1.0, 0.9], "density": [0.3, 0.85], "mass": [1.0, 0.3], "res_dim": [0, 2]})
    cases = pd.DataFrame({"intercept": [-8.0, -5.0], "conference_cost": [5e5, 5e5], "of_interest": [True, False]})
    text = discovery.write_report(spec, tmp_path, cases, discovery.Box(traj, 1, limits, 1, 2)).read_text()
    assert "concentrate where `intercept` is at most -7. Restrictions significant at 5 % (quasi-p): `intercept`." in text
    assert "The box also restricts `conference_cost` (at least 1e+05), not significant at 5 %" in text


def test_the_report_says_in_words_where_the_cases_are_and_which_limits_are_significant(tmp_path):
    """Cases where the intercept is below -7 and a conference costs more than 400,000 (400 hand-made points): the
    report reads 'intercept is at most' about -7 and 'conference_cost is at least' about 400,000, and names both
    one-sided restrictions as significant (each has one quasi-p-value, far below 5 %)."""
    import re

    path = tmp_path / "d.toml"
    path.write_text(TINY.format(below=1))
    spec = discovery.load_spec(path)
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"intercept": rng.uniform(-10, -4, 400), "conference_cost": rng.uniform(0, 1e6, 400)})
    y = ((x.intercept < -7) & (x.conference_cost > 4e5)).to_numpy()
    text = discovery.write_report(spec, tmp_path, x.assign(of_interest=y), discovery.find_box(x, y, spec.prim))
    text = text.read_text()
    words = re.search(r"concentrate where `intercept` is at most (-[\d.]+); `conference_cost` is at least ([\d.e+]+)\.",
                      text)
    assert words and float(words[1]) == pytest.approx(-7, abs=0.3) and float(words[2]) == pytest.approx(4e5, rel=0.1)
    assert "Restrictions significant at 5 % (quasi-p): `intercept`, `conference_cost`." in text


def test_discover_finds_that_a_low_base_rate_keeps_adoption_low(tmp_path):
    path = tmp_path / "d.toml"
    out = tmp_path / "d"
    # the median of the outcome over the design: about half the points are cases of interest
    path.write_text(TINY.format(below=1e12))
    probe = tmp_path / "probe"
    assert main(["discover", str(path), "--out", str(probe), "--workers", "1", "--quiet"]) == 0
    median = float(pd.read_csv(probe / "cases.csv").firms.median())
    path.write_text(TINY.format(below=median))
    assert main(["discover", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    cases = pd.read_csv(out / "cases.csv")
    assert cases.of_interest.sum() == (cases.firms < median).sum() > 0
    box = pd.read_csv(out / "box.csv").set_index("factor")
    # the base rate decides adoption; what a conference costs cannot
    assert "intercept" in box.index and "conference_cost" not in box.index
    # low intercepts: bounded below the prior's upper edge, -4 (measured -6.91, between the points at -7.04 and -6.78)
    assert box.loc["intercept", "max"] < -4.0
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "discovery" and man["interest"] == {"output": "firms", "below": median}
    report = (out / "report.md").read_text()
    assert "coverage" in report and "density" in report and "`intercept`" in report
    for f in ("tradeoff.png", "box.png"):
        assert (out / "figures" / f).stat().st_size > 10_000


@pytest.mark.parametrize("change, fragment", [
    (("below = 1", "between = 1"), "interest.between"),
    (('output = "firms"', 'output = "cloud"'), "interest.output"),
    (("points = 24", "points = 5"), "points"),
    (("threshold = 0.8", "threshold = 1.5"), "prim.threshold"),
])
def test_bad_discovery_files_are_one_line_and_exit_2(tmp_path, capsys, change, fragment):
    text = TINY.format(below=1)
    assert change[0] in text
    path = tmp_path / "d.toml"
    path.write_text(text.replace(change[0], change[1]))
    assert main(["discover", str(path), "--out", str(tmp_path / "never"), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err
    assert not (tmp_path / "never").exists()

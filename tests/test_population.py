"""The synthetic population: province totals at any scale, the 2013 inputs reproduced."""

import numpy as np
import pytest

from simmodel.data import load_tables
from simmodel.model import TransformationModel
from simmodel.params import Params
from simmodel.model.population import build_population


@pytest.mark.parametrize("scale", [0.005, 0.05, 0.3])
def test_weights_make_totals_province_level_at_any_scale(scale):
    p = Params().replace({"run.scale": scale})
    f = build_population(p, load_tables(), np.random.default_rng(0))
    assert f.weight.sum() == pytest.approx(p["population.n_firms"])
    assert f.weight[f.above].sum() == pytest.approx(p["population.n_above_size"])
    assert f.n < p["population.n_firms"] * scale * 1.5 + 100


def test_scale_one_is_one_agent_per_firm():
    p = Params().replace({"run.scale": 1.0})
    n_above, n_small, w_above, w_small = __import__("simmodel.model.population", fromlist=["x"]).agent_counts(p)
    assert n_above + n_small == 562_000 and w_above == w_small == 1.0


def test_2013_above_size_productivity_is_the_input_level_as_a_yearly_mean():
    m = TransformationModel(seed=3, scale=0.02)
    f = m.firms
    w = f.weight * f.employees * f.above
    january = 167_800 / (1 + m.params["economy.productivity_trend"]) ** (5.5 / 12)
    assert np.sum(w * f.productivity) / np.sum(w) == pytest.approx(january, rel=1e-9)


def test_labour_gap_share_at_start_is_near_the_2012_figure():
    m = TransformationModel(seed=3, scale=0.05)
    f = m.firms
    share = np.sum(f.weight * (f.labour_gap > 0)) / f.weight.sum()
    assert share == pytest.approx(0.77, abs=0.02)


def test_city_totals_follow_the_firm_shares():
    m = TransformationModel(seed=3, scale=0.05)
    f, t = m.firms, m.tables
    by_city = np.bincount(f.city, weights=f.weight, minlength=11) / f.weight.sum()
    assert np.allclose(by_city, t.city_firm_share, atol=0.002)


def test_a_firm_is_readable_as_a_view_of_the_arrays():
    m = TransformationModel(seed=3, scale=0.01)
    v = m.firm(5)
    assert v.stage == m.firms.stage[5] and v.cash == m.firms.cash[5]
    assert v.employees == pytest.approx(m.firms.employees[5])
    with pytest.raises(Exception):
        v.stage = 3  # read-only

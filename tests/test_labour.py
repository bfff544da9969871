"""Labour: wages follow the input series, machines substitute labour, the gap closes."""

import numpy as np
import pytest

from conftest import run
from simmodel.model import TransformationModel
from simmodel.runs.runner import tidy


def test_wages_follow_the_series_by_size_class():
    m = TransformationModel(seed=1, scale=0.005, end="2016-01")
    m.run()
    f, t = m.firms, m.tables
    assert np.all(f.wage[f.above] == t.wage[3]) and np.all(f.wage[~f.above] == t.wage_private[3])


def test_a_project_cuts_labour_needs_by_the_labour_saving_share():
    from simmodel.model.firms import apply_gain
    m = TransformationModel(seed=1, scale=0.005)
    f = m.firms
    idx = np.arange(10)
    before = f.needs[idx].copy()
    lam = m.tables.sector_labour_saving[f.sector[idx]]
    saved = apply_gain(f, idx, np.full(10, 0.2), lam)
    assert np.allclose(f.needs[idx], before * 1.2 ** -lam)
    assert np.allclose(saved, before - f.needs[idx])


def test_more_transformation_means_a_smaller_labour_gap_and_more_labour_cost_saved():
    base, better = run(), run(technology__true_gain_multiplier=1.5)

    def last(m, name):
        return [v for p, r, s, n, v in tidy(m, True) if n == name and r == "Zhejiang" and s == "all"][-1]
    assert last(better, "share_with_labour_gap") < last(base, "share_with_labour_gap")
    assert last(better, "labour_cost_saved") > last(base, "labour_cost_saved")


def test_labour_cost_saved_is_workers_substituted_times_wages():
    m = TransformationModel(seed=2, scale=0.005, end="2013-12")
    m.run()
    f = m.firms
    rows = tidy(m, True)
    saved = [v for p, r, s, n, v in rows if n == "labour_cost_saved" and r == "Zhejiang" and s == "all"][0]
    expected_upper = (f.weight * f.workers_saved * f.wage).sum()  # with December's stock all year
    assert 0 < saved <= expected_upper * (1 + 1e-9)
    assert saved == pytest.approx(expected_upper, rel=0.1)

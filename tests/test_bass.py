"""Docking: the 'bass' rule reproduces the analytic Bass (1969) curve."""

import numpy as np
import pytest

from simmodel.model import TransformationModel


def bass_curve(p, q, t):
    e = np.exp(-(p + q) * t)
    return (1 - e) / (1 + (q / p) * e)


def _cell_curve(seed, p, q):
    # cross_cell_weight = 1: each sector province-wide is one peer group; the textiles group has
    # ~47,000 agents at scale 0.3
    m = TransformationModel(seed=seed, scale=0.3, decision_rule="bass", bass_p=p, bass_q=q, cross_cell_weight=1.0)
    f = m.firms
    group = f.sector == 0
    out = []
    while m.running:
        m.step()
        if m.month % 12 == 11:
            out.append((f.weight * (f.stage >= 1) * group).sum() / (f.weight * group).sum())
    return np.array(out)


@pytest.mark.parametrize("p,q", [(0.01, 0.3), (0.03, 0.38), (0.02, 0.5)])
def test_bass_rule_matches_the_analytic_curve_within_one_point(p, q):
    mean = np.mean([_cell_curve(seed, p, q) for seed in (1, 2, 3, 4)], axis=0)
    assert np.abs(mean - bass_curve(p, q, np.arange(1, 9))).max() < 0.01


def test_bass_rule_turns_economics_and_policy_off():
    m = TransformationModel(seed=1, scale=0.01, decision_rule="bass", end="2015-12")
    m.run()
    f = m.firms
    assert (f.stage >= 1).any() and f.stage.max() == 1
    assert not f.on_cloud.any() and m.government.subsidy_paid_total == 0 and m.bank.lent_total == 0

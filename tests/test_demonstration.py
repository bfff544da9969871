"""Conferences, pilots and expert groups: demonstration moves beliefs and speeds adoption."""

import numpy as np
import pytest

from conftest import flow_total, run
from simmodel.model.demonstration import conferences_in_month
from simmodel.runs.runner import tidy


def _adopted_share(m, cells):
    f = m.firms
    mask = np.isin(f.cell, cells)
    return (f.weight * (f.stage >= 1) * mask).sum() / (f.weight * mask).sum()


def test_conferences_per_year_are_exactly_the_parameter():
    assert [sum(conferences_in_month(k, m) for m in range(12)) for k in (0, 7, 100, 250)] == [0, 7, 100, 250]
    m = run()
    held = [v for _, r, s, n, v in tidy(m, True) if n == "conferences_held"]
    assert held[1:] == [100] * 7  # 2013 has fewer: no cases to show before the first completions


def test_without_conferences_diffusion_is_slower_where_they_were_held():
    base, none = run(), run(demonstration__conferences_enabled=False)
    cells = sorted({c for _, c in base.demonstration.held})
    assert len(cells) > 10
    assert _adopted_share(base, cells) > _adopted_share(none, cells)
    assert flow_total(none, "conference_attendees") == 0


def test_a_bad_wave_shown_at_conferences_slows_the_next_wave():
    """Peer learning off: the bad cases reach non-adopters only through conferences. Over four seeds
    (common random numbers), the wave costs more projects with conferences than without them."""
    after = slice(36, 60)  # 2016-2017
    bad = {"technology__bad_wave_start": "2015-01", "technology__bad_wave_months": 12}
    losses = {True: [], False: []}
    for seed in (7, 8, 9, 10):
        for conferences in (True, False):
            kw = {"beliefs__peer_contacts": 0.0, "demonstration__conferences_enabled": conferences}
            calm, hit = run(seed, **kw), run(seed, **kw, **bad)
            losses[conferences].append(1 - flow_total(hit, "projects_started", after)
                                       / flow_total(calm, "projects_started", after))
    assert min(losses[True]) > 0  # the wave slows the next one, on every seed
    assert np.mean(losses[True]) > np.mean(losses[False])  # and conferences are what carries it


def test_conference_attendees_learn_and_their_uncertainty_shrinks():
    from simmodel.model import TransformationModel
    from simmodel.model.beliefs import mean_belief
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.02, end="2016-12")
    m.run()
    f = m.firms
    _, var = mean_belief(f, m.params["beliefs.prior_mean"], m.params["beliefs.prior_sd"])
    went = f.informed & ~f.diagnosed & (f.stage == 0) & (f.exposure > 0)
    never = ~f.informed & (f.stage == 0)
    # within a cell the public evidence is the same: what an attendee learnt is its own precision
    cells = np.intersect1d(f.cell[went], f.cell[never])
    assert cells.size > 20
    for c in cells:
        assert var[went & (f.cell == c)].max() < var[never & (f.cell == c)].min()


def test_conferences_inform_even_without_the_exposure_shifter():
    """beta_exposure = 0: a conference acts only through what its attendees learn of their sector's gains.
    Firms' prior (prior_mean) lies below what projects realise, so attendees who learn from the cases
    shown adopt more than the same conferences' attendees taught nothing (conference_learning = 0): the
    share of 2013-2015 attendees at stage >= 1 by 2016, four seeds, common random numbers."""
    def adopted(m):
        f, seen = m.firms, m.demonstration.attended
        went = (seen >= 0) & (seen < 36)
        return (f.weight * went * (f.stage >= 1)).sum() / (f.weight * went).sum()

    off = {"decision__beta_exposure": 0.0, "run__end": "2016-12"}
    taught = [adopted(run(s, **off)) for s in (1, 2, 3, 4)]
    silent = [adopted(run(s, demonstration__conference_learning=0.0, **off)) for s in (1, 2, 3, 4)]
    assert np.mean(taught) > np.mean(silent)


def test_pilots_are_chosen_in_three_batches_and_start_projects_first():
    m = run()
    pilots = [v for _, r, s, n, v in tidy(m, True) if n == "pilots"]
    assert pilots[0] == 0 and 0 < pilots[1] < pilots[2] < pilots[3]
    assert pilots[-1] == pilots[3]  # three batches only
    f = m.firms
    assert np.all(f.above[f.pilot])
    assert (f.stage[f.pilot] >= 1).mean() > 0.9


def test_no_pilots_when_switched_off():
    m = run(demonstration__pilots_enabled=False)
    assert not m.firms.pilot.any() and m.demonstration.pilots_total == 0


def test_expert_groups_diagnose_their_capacity_in_real_firms_at_any_scale():
    """22 groups x 10 diagnoses a month: about 220 real firms a month whatever the scale (agents stand
    for several firms; the straddling one is served with the share of it that fits, so the count is
    right on average). 20 %: about two sd of that rounding with agents of 50 firms over 24 months."""
    from simmodel.model import TransformationModel
    for scale in (0.02, 0.1):
        m = TransformationModel.from_scenario("baseline", seed=3, scale=scale, end="2014-12")
        cap = m.params["experts.groups"] * m.params["experts.diagnoses_per_group_month"]
        m.run()
        per_month = float((m.firms.weight * m.firms.diagnosed).sum()) / (m.month + 1)
        assert per_month == pytest.approx(cap, rel=0.2), scale


def test_diagnoses_reach_firms_of_every_size_not_the_first_in_the_arrays():
    """The firms an expert group visits besides the recently exposed are drawn at random from its sector:
    small firms (93 % of firms) get most of those diagnoses, not the above-size firms that come first in
    the arrays."""
    m = run(demonstration__conferences_enabled=False, demonstration__pilots_enabled=False)
    f = m.firms
    w = f.weight * f.diagnosed
    share_small = w[~f.above].sum() / w.sum()
    assert share_small > 0.8


def test_a_diagnosis_narrows_a_firms_uncertainty_about_its_own_gain():
    m = run()
    f = m.firms
    s = np.minimum(f.stage, 3)
    zv = f.z_var[np.arange(f.n), s]
    fresh = f.diagnosed & (f.stage == 0)
    assert fresh.any() and zv[fresh].mean() < zv[~f.diagnosed].mean()


def test_pilots_are_about_ten_real_firms_per_industry_at_any_scale():
    """30 %: about three sd of the rounding with above-size agents of 12.5 firms (scale 0.02)."""
    from simmodel.model import TransformationModel
    for scale in (0.02, 0.1):
        m = TransformationModel.from_scenario("baseline", seed=2, scale=scale, end="2016-02")
        m.run()
        assert m.demonstration.pilots_total == pytest.approx(300, rel=0.3), scale  # 30 industries x 10


def test_no_diagnoses_without_expert_groups():
    m = run(experts__enabled=False, demonstration__pilots_enabled=False)
    assert not m.firms.diagnosed.any() and m.experts == []

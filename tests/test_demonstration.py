"""Conferences, pilots and expert groups: demonstration moves beliefs and speeds adoption."""

import numpy as np

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
            kw = {"beliefs__peer_learning": 0.0, "demonstration__conferences_enabled": conferences}
            calm, hit = run(seed, **kw), run(seed, **kw, **bad)
            losses[conferences].append(1 - flow_total(hit, "projects_started", after)
                                       / flow_total(calm, "projects_started", after))
    assert np.mean(losses[True]) > 0.03  # the wave slows the next one
    assert np.mean(losses[True]) > np.mean(losses[False])  # and conferences are what carries it


def test_conference_attendees_learn_and_their_uncertainty_shrinks():
    from simmodel.model import TransformationModel
    m = TransformationModel(seed=3, scale=0.02, end="2016-12")
    m.run()
    f = m.firms
    went = f.informed & ~f.diagnosed & (f.stage == 0) & (f.exposure > 0)
    never = ~f.informed & (f.stage == 0)
    assert went.any() and never.any()
    assert f.belief_var[went].mean() < f.belief_var[never].mean()


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


def test_expert_groups_diagnose_within_capacity_and_narrow_uncertainty():
    from simmodel.model import TransformationModel
    m = TransformationModel(seed=3, scale=0.02, end="2014-12")
    cap = m.params["experts.groups"] * m.params["experts.diagnoses_per_group_month"]
    done_before = 0.0
    while m.running:
        m.step()
        done = float((m.firms.weight * m.firms.diagnosed).sum())
        assert done - done_before <= cap + m.firms.weight.max() * m.tables.n_sectors  # agents are lumpy
        done_before = done
    f = m.firms
    assert f.diagnosed.any()
    assert f.belief_var[f.diagnosed].mean() < f.belief_var[~f.informed].mean()


def test_no_diagnoses_without_expert_groups():
    m = run(experts__enabled=False, demonstration__pilots_enabled=False)
    assert not m.firms.diagnosed.any() and m.experts == []

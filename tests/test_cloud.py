"""The 'enterprises on the cloud' action."""

import numpy as np
import pytest

from conftest import flow_total, run
from simmodel.model.indicators import STOCKS


def _cloud(m):
    st = m.recorder.stocks[: m.recorder.months_done, STOCKS.index("firms")]
    return st.reshape(st.shape[0], -1, 5, 2)[:, :, :, 1].sum(axis=(1, 2))


def test_without_the_action_far_fewer_firms_are_on_the_cloud_after_2017():
    base, none = run(), run(cloud__action_enabled=False)
    # without the action firms still migrate (intercept, cell peers, digitized firms): the claim is
    # that the action at least triples the 2020 stock (about four times at this seed)
    assert _cloud(base)[-1] > 3 * _cloud(none)[-1]
    assert np.allclose(_cloud(none)[:48], _cloud(base)[:48])  # identical before the action


def test_an_earlier_action_puts_more_firms_on_the_cloud_by_2016():
    base, early = run(), run(cloud__action_start="2014-01")
    assert _cloud(early)[47] > 3 * _cloud(base)[47]


def test_cloud_firms_only_ever_increase_and_count_all_sizes():
    m = run()
    c = _cloud(m)
    assert np.all(np.diff(c) >= 0)
    f = m.firms
    assert f.on_cloud[~f.above].any() and f.on_cloud[f.above].any()


def test_vouchers_are_paid_only_during_the_action_from_its_budget():
    m = run()
    before, during = flow_total(m, "subsidy_vouchers", slice(0, 48)), flow_total(m, "subsidy_vouchers", slice(48, 96))
    assert before == 0 and during > 0
    assert during == pytest.approx(m.government.vouchers.paid_total, rel=1e-12)  # the action's own budget (cloud.voucher_payer = action)


def test_when_cities_pay_the_vouchers_they_compete_with_robot_subsidies():
    own = run()
    shared = run(cloud__voucher_payer="cities", cities__budget_total=2e8)
    alone = run(cities__budget_total=2e8)
    assert shared.government.vouchers.paid_total == 0 and flow_total(shared, "subsidy_vouchers") > 0
    assert flow_total(shared, "subsidy_robots") < flow_total(alone, "subsidy_robots")  # the same city money
    assert flow_total(own, "subsidy_vouchers") > 0

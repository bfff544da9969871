"""The 'enterprises on the cloud' action."""

import numpy as np

from conftest import flow_total, run
from simmodel.model.indicators import STOCKS


def _cloud(m):
    st = m.recorder.stocks[: m.recorder.months_done, STOCKS.index("firms")]
    return st.reshape(st.shape[0], -1, 5, 2)[:, :, :, 1].sum(axis=(1, 2))


def test_without_the_action_far_fewer_firms_are_on_the_cloud_after_2017():
    base, none = run(), run(cloud__action_enabled=False)
    assert _cloud(none)[-1] < 0.25 * _cloud(base)[-1]
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


def test_cities_pay_vouchers_only_during_the_action():
    m = run(cities__topup_enabled=False)
    on = flow_total(m, "subsidy_spent", slice(48, 96))
    off = run(cities__topup_enabled=False, cloud__voucher=0.0)
    assert on > flow_total(off, "subsidy_spent", slice(48, 96))

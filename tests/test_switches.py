"""Every policy channel can be switched off by a parameter, and then it is really off."""

import pytest

from conftest import flow_total, run

SWITCHES = [  # (parameter overrides, flows that must be zero)
    (dict(government__special_fund_enabled=False, cities__purchase_enabled=False, cloud__action_enabled=False),
     ("subsidy_spent", "subsidy_robots", "subsidy_awards", "subsidy_pilots", "subsidy_vouchers")),
    (dict(leasing__funds_enabled=False, leasing__materials_enabled=False, leasing__engineering_enabled=False),
     ("leases_funds", "leases_materials", "leases_engineering")),
    (dict(demonstration__conferences_enabled=False), ("conference_attendees",)),
    (dict(bank__loans_enabled=False, demonstration__pilots_enabled=False), ("loans_issued",)),
]


@pytest.mark.parametrize("updates,zero", SWITCHES)
def test_switched_off_channel_leaves_no_trace(updates, zero):
    m = run(**updates)
    for name in zero:
        assert flow_total(m, name) == 0.0, name


def test_special_fund_off_means_the_fund_pays_nothing():
    m = run(government__special_fund_enabled=False)
    assert m.government.fund.paid_total == 0 and m.government.fund.released_total == 0
    assert m.government.envelope.paid_total == 0


def test_approval_reform_off_keeps_the_long_lead_time():
    from simmodel.model import TransformationModel
    for enabled, key in ((False, "projects.approval_months"), (True, "projects.approval_months_reformed")):
        m = TransformationModel(seed=1, scale=0.002, end="2016-06", approval_reform_enabled=enabled)
        m.run()
        assert m.government.approval_months() == m.params[key]

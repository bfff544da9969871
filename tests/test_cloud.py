"""The 'enterprises on the cloud' action."""

import numpy as np
import pytest

from conftest import flow_total, run
from simmodel.model.indicators import STOCKS


class Zeros:
    """A random stream whose every draw is 0: every firm whose probability is positive acts this month."""

    def random(self, n, dtype):
        return np.zeros(n, dtype)


def _cloud(m):
    st = m.recorder.stocks[: m.recorder.months_done, STOCKS.index("firms")]
    return st.reshape(st.shape[0], -1, 5, 2)[:, :, :, 1].sum(axis=(1, 2))


def test_without_the_action_far_fewer_firms_are_on_the_cloud_after_2017():
    base, none = run(), run(cloud__action_enabled=False)
    # without the action firms still migrate (intercept, cell peers, digitized firms): the claim is
    # that the action at least triples the 2020 stock (28 times at this seed, measured)
    assert _cloud(base)[-1] > 3 * _cloud(none)[-1]
    assert np.allclose(_cloud(none)[:48], _cloud(base)[:48])  # identical before the action


def test_an_earlier_action_puts_more_firms_on_the_cloud_by_2016():
    base, early = run(), run(cloud__action_start="2014-01")
    # measured 56 times as many at the end of 2016 (53 on seed 8): three times is the claim's direction with room
    assert _cloud(early)[47] > 3 * _cloud(base)[47]


def test_the_cloud_stock_stays_below_its_potential_and_counts_all_sizes():
    # issue #15: without a ceiling the stock reached 91 % of all manufacturers in 2020 and 100 % in 2022
    m = run(run__end="2025-12")
    f, cloud = m.firms, m.cloud
    potential = np.sum(f.weight * cloud.fit)
    assert np.all(_cloud(m) <= potential + 1e-6)
    assert not f.on_cloud[~cloud.fit].any()
    # measured 0.61 of all firms; without the ceiling the stock reached 0.91 in 2020 (issue #15): 0.8 lies between
    assert potential < 0.8 * f.weight.sum()
    assert f.on_cloud[~f.above].any() and f.on_cloud[f.above].any()


def test_the_potential_is_larger_for_above_size_firms_and_better_connected_cities():
    m = run()
    f, cloud = m.firms, m.cloud
    share = lambda mask: np.sum(f.weight * cloud.fit * mask) / np.sum(f.weight * mask)
    assert share(f.above) > share(~f.above)
    tier = m.tables.city_it_tier[f.city]
    assert share(tier == 1) > share(tier == 3)


def test_firms_leave_the_cloud_only_when_it_costs_more_than_it_brings():
    base, stay = run(), run(cloud__discontinue_rate=0.0)
    assert flow_total(base, "cloud_exits") > 0 and flow_total(stay, "cloud_exits") == 0
    assert _cloud(stay)[-1] > _cloud(base)[-1]
    # a month in which every firm's draw is 0: exactly the firms on the cloud whose services cost
    # more than they bring leave (the model is finished: this month is not recorded)
    from simmodel.model import TransformationModel

    m = TransformationModel.from_scenario("baseline", seed=7, scale=0.02, end="2019-12")
    m.run()
    f = m.firms
    on = np.flatnonzero(f.on_cloud)
    v = m.cloud.value(f, on, 0.0)

    m.cloud.rng = Zeros()
    _, leavers = m.cloud.migrate(f, m.month, np.zeros(len(m.cities)))
    assert set(leavers.tolist()) == set(on[v < 0].tolist()) and leavers.size > 0


def test_a_larger_voucher_brings_more_firms_onto_the_cloud():
    for seed in (7, 8):
        low, high = run(seed, cloud__voucher=0.0), run(seed, cloud__voucher=20_000.0)
        assert _cloud(high)[-1] > _cloud(low)[-1], seed


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


def test_a_migrating_firm_gets_its_voucher_in_cash_and_counts_toward_its_citys_target():
    """During the action (2017) a firm moving onto the cloud receives the voucher it is paid in its cash, other
    firms' cash is untouched, and each city's migrations this year are what it counts toward its target (read
    from the recorded flows of January to the month)."""
    from simmodel.model import TransformationModel
    from simmodel.model.indicators import FLOWS
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.01)
    while m.month < 50:  # March 2017
        m.step()
    paid = {}
    pay = m.subsidies.pay_vouchers

    def watched(idx):
        paid["idx"], paid["yuan"] = idx.copy(), pay(idx)
        return paid["yuan"]

    m.subsidies.pay_vouchers = watched
    f = m.firms
    cash, on = f.cash.copy(), f.on_cloud.copy()
    m.cloud.step(m)
    movers = np.flatnonzero(f.on_cloud & ~on)
    assert movers.size > 0 and np.array_equal(np.sort(paid["idx"]), movers)
    assert np.all(paid["yuan"] > 0)
    order = np.argsort(paid["idx"])
    assert np.allclose(f.cash[movers] - cash[movers], paid["yuan"][order])
    rest = np.ones(f.n, bool)
    rest[movers] = False
    assert np.array_equal(f.cash[rest], cash[rest])
    n_cities, n_sectors = len(m.cities), m.tables.n_sectors
    flows = m.recorder.flows[48:51, FLOWS.index("cloud_migrations")].sum(axis=0)
    flows = flows + m.recorder.month_flows[FLOWS.index("cloud_migrations")]  # the extra call this month
    by_city = flows.reshape(n_cities, n_sectors, 2).sum(axis=(1, 2))
    assert by_city.sum() > 0
    assert np.allclose([c.cloud_done for c in m.cities], by_city)


def test_a_firm_is_paid_the_cloud_voucher_once_however_often_it_comes_back():
    """The action's voucher is for a firm going onto the cloud, not for each return: over the action (2017-2020),
    firms that were paid, left the cloud and migrated again are not paid a second time. Before this rule 37-40 % of
    2018's vouchers and 72-75 % of 2019-2020's went to returning firms (docs/ODD.md 3.4.10). A mover the budget
    could not pay (2017's money runs out in August) claims again when it comes back."""
    from simmodel.model import TransformationModel
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.02)
    claimed, paid, moved = [], [], []
    pay, migrate = m.subsidies.pay_vouchers, m.cloud.migrate

    def paying(idx):
        yuan = pay(idx)
        claimed.append(m.firms.key[idx].copy())
        paid.append(m.firms.key[idx[yuan > 0]].copy())
        return yuan

    def migrating(*a, **k):
        movers, leavers = migrate(*a, **k)
        if m.cloud.action_on(m.month):
            moved.append(m.firms.key[movers].copy())
        return movers, leavers

    m.subsidies.pay_vouchers, m.cloud.migrate = paying, migrating
    m.run()
    claimed, paid, moved = np.concatenate(claimed), np.concatenate(paid), np.concatenate(moved)
    _, times = np.unique(moved, return_counts=True)
    assert (times > 1).sum() > 500  # firms did come back during the action
    assert np.unique(paid).size == paid.size  # none was paid a second time
    assert np.isin(moved, claimed).all()  # every firm that migrated during the action claimed the voucher
    _, claims = np.unique(claimed, return_counts=True)  # a firm claims again only if it was not paid before
    # unpaid movers claiming again: 93 of 8,083 agents here at the sixth calibration's point (1,026 of 9,176 at the
    # fifth's); a rule that never let an unpaid mover claim again gives none
    assert (claims > 1).sum() > 20, (claims > 1).sum()


@pytest.mark.parametrize("payer", ["action", "cities"])
def test_a_mover_counts_on_the_share_of_the_voucher_its_payer_paid_last_year(payer):
    """As firms weigh the purchase subsidies and the fund's awards by the share of a claim paid last year, a mover
    that has not had the voucher counts on the voucher times its payer's share: all of it in the action's first
    year, less once a year's claims exceeded the budget. The budgets are cut here so that 2017's claims exceed them:
    the action's to 150 m yuan a year (its 300 m ran out in 2017 at the sixth calibration's point, share paid
    0.36-0.37 on seeds 1-3 at scale 0.05, but not at the seventh's on seed 3 at scale 0.02); when the cities pay,
    each city's own budget sets its share (their budgets cut to 150 m yuan a year: at the seventh calibration's
    point ten of eleven cities ran short in 2017, the eleventh did not)."""
    from simmodel.model import TransformationModel

    extra = {"cloud.voucher_payer": payer, "cloud.voucher_budget": 1.5e8} if payer == "action" else {
        "cloud.voucher_payer": payer, "cities.budget_total": 1.5e8}
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.02, end="2018-02", **extra)
    counted, shares = {}, {}
    migrate = m.cloud.migrate

    def migrating(firms, month, push, voucher=0.0):
        counted[month] = np.zeros(len(m.cities)) + voucher
        shares[month] = np.array([c.budget.expected_share for c in m.cities]) if payer == "cities" \
            else np.full(len(m.cities), m.government.vouchers.expected_share)
        return migrate(firms, month, push, voucher)

    m.cloud.migrate = migrating
    m.run()
    start, yuan = m.cloud.start, m.params["cloud.voucher"]
    assert all(not counted[t].any() for t in range(start))
    assert all(np.array_equal(counted[t], yuan * shares[t]) for t in range(start, 62))
    if payer == "action":
        assert all((shares[t] == 1).all() for t in range(start, 60))  # the action's first year
    assert np.median(shares[60]) < 0.9 and shares[60].min() > 0  # 2017's claims exceeded the payer's money
    if payer == "cities":
        assert np.ptp(shares[60]) > 0.05  # cities ran short by different amounts


@pytest.mark.parametrize("seed, voucher, had", [(7, 0.0, False), (8, 0.0, False), (7, 3000.0, False),
                                                (8, 3000.0, True), (7, "per city", True)])
def test_a_months_movers_and_leavers_are_exactly_those_a_firm_by_firm_evaluation_gives(seed, voucher, had):
    """migrate filters the month's draws in one pass before valuing anyone (a bound on every firm's
    probability); the movers must be exactly the operating firms off the cloud and fit for it whose draw is
    below their own probability (the voucher in what the services bring, unless the firm has had it: ``had``
    gives a random half of the firms the voucher already; "per city": each city's movers expect their own
    voucher), and the leavers the operating firms
    on it with a draw below the discontinuance rate (compared in the draw's float32, as numpy compares a float32
    array with a Python float: a draw of exactly float32(0.02), below 0.02 in float64, is not below it) whose
    services cost more than they bring without the voucher. Here a tenth of the firms are closed."""
    from simmodel.model import TransformationModel
    from simmodel.model.econ import logistic

    # mid-2016: thousands of fit firms still off the cloud, a few hundred on it
    m = TransformationModel.from_scenario("baseline", seed=seed, scale=0.02, end="2016-06")
    m.run()
    f, cloud = m.firms, m.cloud
    rng = np.random.default_rng(seed)
    f.alive[rng.random(f.n) < 0.1] = False
    if had:
        f.voucher_used[:] = rng.random(f.n) < 0.5
    push = np.array([c.behind_target() for c in m.cities], float)
    table, everyone = cloud.index_table(m.month, push), np.arange(f.n)
    if voucher == "per city":
        voucher = np.random.default_rng(seed + 100).uniform(0.0, 20_000.0, len(m.cities))
        expected = np.zeros(f.n)
        for city, yuan in enumerate(voucher):
            mine = everyone[f.city == city]
            expected[mine] = cloud.value(f, mine, yuan)
    else:
        expected = cloud.value(f, everyone, voucher)
    v = np.where(f.voucher_used, cloud.value(f, everyone, 0.0), expected)
    p = logistic(table[f.combo] + cloud.p.beta_net_value * v)
    # draws near each firm's own probability (off the cloud) or the discontinuance rate (on it), so that a
    # filter or a bound that is off by a little changes who moves or leaves
    near = np.where(f.on_cloud, cloud.p.discontinue_rate, p)
    u = (near * rng.uniform(0.3, 1.7, f.n)).astype(np.float32)
    losing = (f.alive & f.on_cloud & (cloud.value(f, everyone, 0.0) < 0)).nonzero()[0]
    rate = np.float32(cloud.p.discontinue_rate)
    assert float(rate) < cloud.p.discontinue_rate  # float32(0.02) is below 0.02
    u[losing[::3]] = rate

    class Fixed:
        def random(self, n, dtype):
            return u.copy()

    want_move = everyone[f.alive & ~f.on_cloud & cloud.fit & (u < p)]
    want_leave = everyone[f.alive & f.on_cloud & (u < np.float32(cloud.p.discontinue_rate))
                          & (cloud.value(f, everyone, 0.0) < 0)]
    cloud.rng = Fixed()
    movers, leavers = cloud.migrate(f, m.month, push, voucher)
    assert np.array_equal(movers, want_move) and np.array_equal(leavers, want_leave)
    assert movers.size > 20 and leavers.size > 5, (movers.size, leavers.size)
    assert losing[::3].size > 5 and not np.isin(losing[::3], leavers).any()


@pytest.mark.parametrize("seed", [7, 8])
def test_a_cells_cloud_count_and_every_firms_potential_follow_its_firms(seed):
    """Through 2025 (leavers, firms closing on the cloud, entrants, firms crossing the size threshold) each cell's
    cloud count, which the peer term reads, is the weight of its firms on the cloud, and each firm's potential is
    its size class's in its city's IT tier."""
    m = run(seed, run__end="2025-12")
    f, cloud = m.firms, m.cloud
    assert flow_total(m, "cloud_exits") > 0 and flow_total(m, "firm_exits") > 0 and flow_total(m, "crossed_up") > 0
    have = np.bincount(f.cell, weights=f.weight * f.on_cloud, minlength=cloud.n_cells)
    assert np.allclose(cloud.cell_cloud, have, rtol=1e-9, atol=1e-6)  # sums kept up month by month: rounding only
    tier = m.tables.city_it_tier[f.city]
    assert np.array_equal(cloud.potential, cloud.potential_share(f.above, tier))


JUNE_2017 = 53  # the end of 2017 H1: the action ramping up, cities behind their targets


@pytest.mark.parametrize("seed", [7, 8])
def test_peers_on_the_cloud_pull_their_cell_onto_it(seed):
    """The peer term of the migration logit against the calibrated baseline (common random numbers), dose and
    response: set to 0, fewer firms are on the cloud at the end of 2017 H1, and doubled, more. Measured 0.95-0.96 and
    1.04 of the baseline at these seeds at the eighth calibration's point, whose peer weight is 0.87 (0.87 of the
    baseline with the weight at 0 at the seventh's, 6.5); 2 % either way is a floor for the effect, not a fit."""
    baseline = run(seed)
    base, weight = _cloud(baseline)[JUNE_2017], baseline.params["cloud.beta_cloud_peers"]
    assert weight > 0
    assert _cloud(run(seed, cloud__beta_cloud_peers=0.0))[JUNE_2017] < 0.98 * base
    assert _cloud(run(seed, cloud__beta_cloud_peers=2 * weight))[JUNE_2017] > 1.02 * base


@pytest.mark.parametrize("seed", [7, 8])
def test_a_city_behind_its_target_pushes_its_firms_onto_the_cloud(seed):
    """The cities' push set to 0 against the calibrated baseline (common random numbers): at the end of 2017 H1 at
    most three quarters as many firms are on the cloud (0.43-0.44 of the baseline at these seeds; three quarters is
    a floor for the effect, not a fit)."""
    assert _cloud(run(seed, cloud__beta_push=0.0))[JUNE_2017] < 0.75 * _cloud(run(seed))[JUNE_2017]


def test_a_city_pushes_only_while_behind_its_target_to_date():
    from simmodel.model import TransformationModel
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.01, end="2017-03")
    m.run()
    city = m.cities[0]
    assert m.month % 12 == 2 and city.cloud_target > 0  # March 2017: a quarter of the year's target is due
    due = city.cloud_target * 3 / 12
    city.cloud_done = 0.99 * due
    assert city.behind_target()
    city.cloud_done = due
    assert not city.behind_target()


def test_the_digital_bonus_is_for_firms_at_stage_2_or_more_and_each_it_tier_up_adds_beta_tier():
    """The migration index of a (cell, stage): firms at stage 2 or more (digitized) get beta_digital, automated
    ones (stage 1) do not; with no firm on the cloud anywhere, cells differ only by their city's IT tier, by
    beta_tier a step."""
    m = run()
    cloud, c = m.cloud, m.cloud.p
    z = cloud.index_table(60, np.zeros(len(m.cities))).reshape(-1, 5)
    assert c.beta_digital > 0 and c.beta_tier > 0
    assert np.array_equal(z[:, 1], z[:, 0])
    assert np.allclose(z[:, 2:] - z[:, [1]], c.beta_digital, rtol=0, atol=1e-12)
    saved = cloud.cell_cloud.copy()
    try:
        cloud.cell_cloud[:] = 0.0
        z0 = cloud.index_table(60, np.zeros(len(m.cities))).reshape(-1, 5)[:, 0]
    finally:
        cloud.cell_cloud[:] = saved
    tier = m.tables.city_it_tier[cloud.city_of_cell]
    assert set(tier.tolist()) == {1, 2, 3}
    assert np.allclose(z0 - z0[tier == 3][0], (3 - tier) * c.beta_tier, rtol=0, atol=1e-12)


def test_a_firm_leaving_the_cloud_loses_the_gain_a_mover_gets():
    from simmodel.model import TransformationModel
    m = TransformationModel.from_scenario("baseline", seed=7, scale=0.02, end="2019-12")
    m.run()
    f, gain = m.firms, m.params["cloud.productivity_gain"]
    on = f.on_cloud.copy()
    before = f.productivity.copy()

    m.cloud.rng = Zeros()  # every fit firm off the cloud moves, every firm on it that loses by it leaves
    m.cloud.step(m)
    left, came = np.flatnonzero(on & ~f.on_cloud), np.flatnonzero(~on & f.on_cloud)
    assert left.size > 0 and came.size > 0
    assert np.allclose(f.productivity[left], before[left] / (1.0 + gain), rtol=1e-12)
    assert np.allclose(f.productivity[came], before[came] * (1.0 + gain), rtol=1e-12)
    rest = np.flatnonzero(on == f.on_cloud)
    assert np.array_equal(f.productivity[rest], before[rest])


def test_the_actions_strength_builds_up_over_its_ramp():
    m = run()
    cloud, ramp = m.cloud, m.cloud.p.ramp_months
    start = cloud.start
    assert ramp > 1 and start == 48  # January 2017
    assert cloud.action_strength(start - 1) == 0.0
    assert [cloud.action_strength(start + k) for k in range(ramp + 2)] == pytest.approx(
        [(k + 1) / ramp for k in range(ramp)] + [1.0, 1.0], rel=1e-15)


def test_a_movers_value_of_the_services_spreads_the_voucher_it_expects_over_value_years():
    """What the services bring a firm a year is productivity_gain x (1 - other_cost_share) of its value added plus
    the voucher it expects spread over cloud.value_years (paid once, reckoned over that many years), and v is the log
    of that over the service's yearly cost, capped at +-5 (docs/ODD.md 3.4.10). Written out here from the parameters
    for every operating firm: cloud.value with no voucher and with the baseline's 3,000 yuan agrees to rel 1e-12
    (measured 2.2e-16: the same operations), and a month's movers with a voucher of its own for each city (5,000 to
    60,000 yuan) are exactly the firms fit for the cloud whose draw is below the probability this v gives (draws set
    0.1 % either side of it). The voucher moves v: a 3,000 yuan voucher adds 1,000 yuan a year to the 5,200 the
    services bring the median agent (seed 7, January 2013); counted whole each year, it would add 3,000."""
    from simmodel.model import TransformationModel
    from simmodel.model.econ import logistic

    m = TransformationModel.from_scenario("baseline", seed=7, scale=0.02)
    m.step()
    f, p, cloud = m.firms, m.params, m.cloud
    share = p["cloud.productivity_gain"] * (1.0 - p["economy.other_cost_share"])

    def v_of(voucher):  # voucher: yuan, one per firm
        brings = share * f.value_added + voucher / p["cloud.value_years"]
        return np.clip(np.log(np.maximum(brings, 1e-9) / p["cloud.service_cost"]), -5.0, 5.0)

    everyone = np.arange(f.n)
    for voucher in (0.0, 3000.0):
        assert np.allclose(cloud.value(f, everyone, voucher), v_of(np.full(f.n, voucher)), rtol=1e-12, atol=0)
    per_city = np.linspace(5_000.0, 60_000.0, len(m.cities))
    push = np.zeros(len(m.cities))
    prob = logistic(cloud.index_table(m.month, push)[f.combo] + cloud.p.beta_net_value * v_of(per_city[f.city]))
    open_ = f.alive & ~f.on_cloud & cloud.fit
    below = np.random.default_rng(7).random(f.n) < 0.5
    u = (prob * np.where(below, 0.999, 1.001)).astype(np.float32)

    class Fixed:
        def random(self, n, dtype):
            return u.copy()

    cloud.rng = Fixed()
    movers, _ = cloud.migrate(f, m.month, push, per_city)
    assert np.array_equal(movers, everyone[open_ & below])
    assert movers.size > 1000 and (open_ & ~below).sum() > 1000

"""The subsidy schedule (docs/ODD.md 3.4.5): one rule for what a firm expects and what it is paid."""

import numpy as np
import pytest

from conftest import flow_total, run
from simmodel.model import TransformationModel
from simmodel.params import month_index


@pytest.fixture(scope="module")
def model():
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.01, end="2013-03")
    m.step()  # January: the fund and the city budgets are released
    return m


def test_the_claim_a_firm_expects_is_what_it_is_paid_for_every_size_and_city(model):
    """Expected = the claim times the share of claims the budget met last year; when the claim is met,
    the payment is exactly the claim the firm valued. The claims are computed here from the parameters and the
    cities' table: robots x min(the city's rate x this month's robot price, its cap per robot), the city's own
    rule from its month where it has one; the award min(award_rate x capital cost, award_cap), the cap binding
    for the larger projects. rel=1e-12: the same products and sums in another order."""
    m = model
    p, t = m.params, m.tables
    capex = np.geomspace(1e4, 1e9, 40)  # from a few machines to the largest lines
    robots = capex / 1e6  # a robot per million yuan of capital cost
    k = np.arange(capex.size)
    price = p["technology.robot_price"] * (1 - p["economy.robot_price_decline"]) ** (m.month / 12)
    award = np.minimum(p["government.award_rate"] * capex, p["government.award_cap"])
    assert award[0] < p["government.award_cap"] == award[-1]  # both sides of the cap
    for city in range(len(m.cities)):
        cities = np.full(capex.size, city)
        own = (p["cities.use_city_rules"] and not np.isnan(t.city_robot_rate[city])
               and month_index(t.city_robot_rule_from[city]) <= m.month)
        rate, cap = ((t.city_robot_rate[city], t.city_robot_cap[city]) if own
                     else (p["cities.purchase_rate"], p["cities.cap_per_robot"]))
        claim = robots * min(rate * price, cap)
        expected = m.subsidies.terms(expected=True)
        share = expected.city_share[city]
        assert expected.expected(cities, capex, robots) == pytest.approx(
            share * claim + expected.fund_share * award, rel=1e-12)
        f = m.firms
        idx = np.flatnonzero(f.city == city)[: capex.size]
        f.proj_capex[idx], f.proj_robots[idx] = capex[k[: idx.size]], robots[k[: idx.size]]
        budget = m.cities[city].budget
        saved = budget.remaining
        budget.remaining = 1e15  # enough money: every claim is met
        paid = m.subsidies.pay_robots(idx)
        budget.remaining = saved
        assert paid == pytest.approx(claim[: idx.size], rel=1e-12)
        rate, cap = m.cities[city].rule(0)
        assert claim[-1] == pytest.approx(min(rate * m.params["technology.robot_price"], cap) * robots[-1])


def test_each_line_caps_on_its_own(model):
    t = model.subsidies.terms(expected=False)
    big = np.array([1e9])
    assert t.award_claim(big)[0] == pytest.approx(t.award_cap)
    rate, cap = model.cities[0].rule(0)
    per_robot = min(rate * model.params["technology.robot_price"], cap)
    assert t.robot_claim(np.array([0]), big, np.array([10.0]))[0] == pytest.approx(10 * per_robot)


def test_the_bound_takes_every_line_at_its_largest_rate(model):
    t = model.subsidies.terms(expected=True)
    capex, robots = np.full(11, 1e6), np.full(11, 3.0)
    largest = t.largest_rate(np.full(10, 3.0 / 1e6))[:, 0]  # 3 robots per million yuan, any sector
    assert np.all(largest * capex >= t.expected(np.arange(11), capex, robots) - 1e-9)


def test_the_decision_values_projects_with_the_schedule(model):
    m = model
    ctx = m.adoption.context(60_000.0, 1.0)
    idx = m.adoption.eligible()
    opts, _ = m.adoption.options(idx, ctx)
    expected = m.subsidies.terms(expected=True).expected(m.firms.city[idx], opts.capex, opts.robots)
    assert np.array_equal(opts.subsidy, expected) and opts.subsidy.max() > 0


def test_firms_expect_what_the_budget_met_last_year_not_a_january_switch():
    """After the first year each budget's expected share is its claims met last year; the application
    flow shows no January rush (the first months of a year are not busier than the rest)."""
    m = run()  # the share itself, budget by budget and year by year: the counted test below
    applied = m.recorder.flows[12:96, list(__import__("simmodel.model.indicators", fromlist=["x"]).FLOWS).index(
        "projects_applied")].sum(axis=1).reshape(7, 12)
    january, rest = applied[:, 0].mean(), applied[:, 1:].mean()
    # 1.3: the lower end of the January rush issue #14 measured when expectations switched on with the fund's money
    # (1.3-1.6 times the other months); 1.09 on seed 7 on 2026-12-06
    assert january < 1.3 * rest


def test_the_round_ranks_applications_and_stays_within_the_fund():
    m = run(government__special_fund_budget=2e7)
    assert m.government.fund.paid_total <= m.government.fund.released_total + 1e-6
    assert 0 < m.government.fund.expected_share < 1  # the small fund cannot meet every claim
    assert flow_total(m, "subsidy_awards") > 0


def test_a_robot_subsidy_is_capped_per_robot_where_the_rate_would_pay_more():
    """The purchase subsidy is the rate times the robot's price up to a cap per robot. At the calibrated rates the
    cap never binds (0.15 x 190,000 < 50,000), so the cap is tested at a rate of 0.6: a claim is then the cap per
    robot times the robots, whatever the project's cost."""
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.01, end="2013-03", **{
        "cities.purchase_rate": 0.6, "cities.use_city_rules": False})
    m.step()
    cap = m.params["cities.cap_per_robot"]
    assert 0.6 * m.params["technology.robot_price"] > 1.5 * cap
    t = m.subsidies.terms(expected=False)
    claims = t.robot_claim(np.arange(11), np.full(11, 1e9), np.full(11, 10.0))
    assert claims == pytest.approx(np.full(11, 10 * cap), rel=1e-12)


def test_each_budget_expects_the_share_of_last_years_claims_it_paid():
    """What firms expect of a budget (its expected share) is, each January, the share of last year's claims on it
    that it paid, claims and payments counted here call by call from what each budget booked (Budget.book, where
    every payment is booked: a city's in the one pass over its claims); a budget nobody claimed from keeps its
    expectation. The fund falls short (in this run it paid 73 %, 16 %, 8 % and 6 % of its claims in 2013-2016), so
    what firms expect of it moves year by year."""
    from simmodel.model.institutions.government import Budget

    books, seen = {}, []
    book, new_year = Budget.book, Budget.new_year

    def counted_book(self, claimed, paid):  # every payment of every budget is booked here
        book(self, claimed, paid)
        b = books.setdefault(id(self), [0.0, 0.0])
        b[0] += claimed
        b[1] += paid

    def checked_new_year(self, *args, **kwargs):
        claimed, paid = books.pop(id(self), [0.0, 0.0])
        before = self.expected_share
        new_year(self, *args, **kwargs)
        seen.append((claimed, paid, before, self.expected_share))

    try:
        Budget.book, Budget.new_year = counted_book, checked_new_year
        TransformationModel.from_scenario("baseline", seed=7, scale=0.01, end="2016-12").run()
    finally:
        Budget.book, Budget.new_year = book, new_year
    claimed = [(c, p, e) for c, p, _, e in seen if c > 0]
    assert len(claimed) >= 20 and any(p < 0.5 * c for c, p, _ in claimed)
    for c, p, e in claimed:
        assert e == p / c  # the same sums in the same order: the same number
    assert all(e == before for c, _, before, e in seen if c == 0)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_the_rounds_money_goes_to_the_projects_with_the_largest_realised_gains_first(seed):
    """The fund's yearly round approves applications by their realised gain ratio (government.award_ranking =
    "gain"): in every round the fund cannot meet, each application paid in full has a gain at least that of
    each application paid nothing. What each firm was paid is read from its cash, which only the award moves
    in the round's call; the applications are the round's own inputs."""
    m = TransformationModel.from_scenario("baseline", seed=seed, scale=0.01, end="2016-12")
    sub, f, rounds = m.subsidies, m.firms, []
    decide = sub.decide_round

    def watched():
        apps = list(m.government.applications)
        cash = f.cash.copy()
        decide()
        if apps and m.government.applications == []:
            idx, claims, gain, _ = (np.concatenate(a) for a in zip(*apps))
            live = f.alive[idx]
            idx, claims, gain = idx[live], claims[live], gain[live]
            assert np.unique(idx).size == idx.size  # one application per firm in a round: cash tells each apart
            paid = (f.cash - cash)[idx]
            rounds.append((gain[paid >= claims * (1 - 1e-6)], gain[paid == 0]))  # 1e-6: cash rounds the award

    sub.decide_round = watched
    m.run()
    short = [(full, none) for full, none in rounds if full.size and none.size]
    assert len(short) >= 3
    for full, none in short:
        assert full.min() >= none.max()


def test_pilot_money_the_envelope_did_not_pay_returns_to_the_fund_before_the_round():
    """In the round's month the pilot envelope's unspent money goes back to the fund before the round pays
    (docs/ODD.md 3.4.5): the fund can pay that much more, and the money released stays counted once."""
    m = TransformationModel(seed=1, scale=0.005)
    gov = m.government
    m.month = 12 * 2 + m.params["government.award_month"] - 1  # December 2015, the round
    gov.fund.remaining, gov.fund.released_total = 1e7, 1e7
    gov.envelope.remaining, gov.envelope.released_total = 3e6, 3e6
    gov.applications = []
    m.subsidies.decide_round()
    assert gov.envelope.remaining == 0.0
    assert gov.fund.remaining == pytest.approx(1.3e7)
    assert gov.fund.released_total + gov.envelope.released_total == pytest.approx(1.3e7)


def test_the_cities_pay_their_claims_as_each_budgets_own_pay_would_to_the_bit():
    """SubsidySchedule._pay_by_city pays every city's claims in one compiled pass (subsidies._pay_cities); what
    each firm is paid and what each budget books must be, to the bit, what one Budget.pay per city with a claim
    (the old loop, 9e8d24c) gives: firms of all cities in a shuffled order, claims of 0 among them (a city whose
    claims are all 0 pays nothing and books nothing), budgets that run out part way and one already empty."""
    import copy

    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.01, end="2013-02")
    rng = np.random.default_rng(4)
    f = m.firms
    idx = rng.permutation(f.n)[:900]
    claims = np.where(rng.random(idx.size) < 0.2, 0.0, rng.lognormal(9.0, 1.5, idx.size))
    claims[f.city[idx] == 3] = 0.0
    for c in m.cities:
        c.budget.remaining = float(rng.choice([0.0, 1e5, 1e6, 1e7, 1e9]))
    m.cities[5].budget.remaining = 0.0
    old = copy.deepcopy(m)
    got = m.subsidies._pay_by_city(idx, claims)
    w, city, want = f.weight[idx], f.city[idx], np.zeros(idx.size)
    for c in np.unique(city[claims > 0]):
        k = (city == c).nonzero()[0]
        want[k] = old.cities[int(c)].budget.pay(claims[k] * w[k]) / w[k]
    assert got.tobytes() == want.tobytes()
    fields = ("remaining", "paid_total", "paid_this_month", "claimed_year", "paid_year")
    for new, before in zip(m.cities, old.cities):
        assert [getattr(new.budget, k) for k in fields] == [getattr(before.budget, k) for k in fields], new.city
    assert (got == 0).any() and (got > 0).any() and ((got > 0) & (got < claims)).any()  # one ran out part way
    assert m.cities[3].budget.claimed_year == 0.0 and m.cities[5].budget.claimed_year > 0.0

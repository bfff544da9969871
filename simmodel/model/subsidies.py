"""Subsidies (docs/ODD.md 3.4.5): the one schedule of what a project may claim, which budget pays it,
how claims are served, and what a firm may expect. The decision, the thinning bound, the payments
and the per-firm reference all call it.

Lines, each paid by one budget (institutions/government.py) and each capped per project on its own:
  robot purchase subsidy  the firm's city: for each robot a machine-substitution project (one that
                          climbs to stage 1) installs, its rate x the robot's price (this month's),
                          capped at its cap per robot; paid when implementation starts, in the
                          providers' queue order (arrival, seeded random tie-break);
  award of the fund       the province's special fund: award_rate x capital cost, capped at
                          award_cap; projects apply when they complete (or buy, award_basis) and the
                          year's round, in December, approves them in a documented ranking
                          (award_ranking) within the fund;
  pilot support           the fund's pilot envelope: pilot_subsidy_rate x capital cost, capped, paid
                          when a pilot's project starts (pilots in a seeded random order);
  cloud voucher           the cloud action's budget (or the cities', cloud.voucher_payer), to
                          migrating firms in a seeded random order.
Each line is off (nothing claimed, expected or paid) before its instrument's start
(params.instrument_start, moved with programme.start): the cities' rules and the fund's awards from
the programme's start, pilot support from the pilot batches, vouchers from the cloud action.
A firm expects each purchase or award line's claim times the share of claims the paying budget met
last year (before the first year, a stated prior share); the thinning bound takes every rate at its
largest and every share as 1. The claim a firm expects is exactly what it is paid when its claim is
met (tests/test_subsidies.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .allocation import event_id, pay_in_order_into, random_order, tie_break
from .econ import array_sum, elementwise, fmin

FLOWS = ("subsidy_robots", "subsidy_awards", "subsidy_pilots", "subsidy_vouchers")  # plus the total, subsidy_spent


@njit(cache=True, nogil=True, error_model="numpy")
def robot_claim_of(robot_subsidy, robots):
    """The robot purchase subsidy a project installing ``robots`` may claim (yuan), at its city's subsidy per
    robot."""
    return robot_subsidy * robots


@njit(cache=True, nogil=True, error_model="numpy")
def award_claim_of(award_rate, award_cap, capex):
    """The award a project of capital cost ``capex`` may claim from the fund's round (yuan)."""
    return fmin(award_rate * capex, award_cap)


@njit(cache=True, nogil=True, error_model="numpy")
def expected_subsidy_of(robot_subsidy, city_share, award_rate, award_cap, fund_share, capex, robots):
    """What one firm expects to receive for a project (yuan): each claim times the share of claims its budget
    met (SubsidyTerms)."""
    return (city_share * robot_claim_of(robot_subsidy, robots)
            + fund_share * award_claim_of(award_rate, award_cap, capex))


@njit(cache=True, nogil=True, error_model="numpy")
def _robot_claim_kernel(robot_subsidy, robots, out):
    for i in range(out.size):
        out[i] = robot_claim_of(robot_subsidy[i], robots[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _award_claim_kernel(capex, award_rate, award_cap, out):
    for i in range(out.size):
        out[i] = award_claim_of(award_rate, award_cap, capex[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _expected_kernel(robot_subsidy, city_share, capex, robots, award_rate, award_cap, fund_share, out):
    for i in range(out.size):
        out[i] = expected_subsidy_of(robot_subsidy[i], city_share[i], award_rate, award_cap, fund_share, capex[i],
                                     robots[i])


@njit(cache=True, nogil=True)
def _pay_cities(idx, city_of, claims, weight_of, remaining, paid, claimed, total):
    """Each city with a positive claim among firms ``idx`` (their claims ``claims``; ``city_of`` and ``weight_of``:
    every firm's) pays its claims x weight in the order given from ``remaining[c]`` (pay_in_order_into); ``paid``
    gets the yuan per firm, ``claimed[c]`` and ``total[c]`` the claims and the payments (numpy's pairwise sums, as
    Budget.pay takes them). Returns which cities paid."""
    city, weight = np.empty(idx.size, np.int64), np.empty(idx.size)
    paying = np.zeros(remaining.size, np.bool_)
    for j in range(idx.size):
        city[j], weight[j] = city_of[idx[j]], weight_of[idx[j]]
        if claims[j] > 0:
            paying[city[j]] = True
    for c in range(remaining.size):
        if not paying[c]:
            continue
        k = (city == c).nonzero()[0]
        cw = claims[k] * weight[k]
        out = np.empty(k.size)
        pay_in_order_into(cw, remaining[c], out)
        claimed[c], total[c] = array_sum(cw), array_sum(out)
        for j in range(k.size):
            paid[k[j]] = out[j] / weight[k[j]]
    return paying


@dataclass(frozen=True)
class SubsidyTerms:
    """The rates and caps of each line this month, and the share of a claim firms expect to be paid."""

    robot_subsidy: np.ndarray  # (n_cities,) yuan per robot: min(rate x robot price, cap per robot)
    city_share: np.ndarray  # (n_cities,) expected share of a claim the city pays
    award_rate: float  # share of capital cost
    award_cap: float  # yuan per project
    fund_share: float  # expected share of a claim the round funds
    pilot_rate: float
    pilot_cap: float

    def robot_claim(self, city, capex, robots):
        """:func:`robot_claim_of` of projects in cities ``city``."""
        return elementwise(_robot_claim_kernel, self.robot_subsidy[city], robots)

    def award_claim(self, capex):
        """:func:`award_claim_of` of projects of capital cost ``capex``."""
        return elementwise(_award_claim_kernel, capex, extra=(float(self.award_rate), float(self.award_cap)))

    def pilot_claim(self, capex):
        return np.minimum(self.pilot_rate * capex, self.pilot_cap)

    def expected(self, city, capex, robots):
        """What firms in cities ``city`` expect to receive for projects (yuan; :func:`expected_subsidy_of`)."""
        return elementwise(_expected_kernel, self.robot_subsidy[city], self.city_share[city], capex, robots,
                           extra=(float(self.award_rate), float(self.award_cap), float(self.fund_share)))

    def largest_rate(self, robots_per_capex: np.ndarray) -> np.ndarray:
        """(n_cities, n_sectors): the largest share of capital cost the lines a firm expects can pay (every
        share 1, caps ignored), given the most robots a project of each sector can install per yuan of
        its capital cost."""
        return self.robot_subsidy[:, None] * robots_per_capex[None, :] + self.award_rate


class SubsidySchedule:
    """The model's subsidy lines: terms by month, and payments from the governments' budgets."""

    def __init__(self, model):
        self.model = model
        p = model.params
        self.robot_price = p["technology.robot_price"]
        self.price_decline = p["economy.robot_price_decline"]
        g = p.government
        self.award_rate = g.award_rate if g.special_fund_enabled else 0.0
        self.award_cap, self.award_basis, self.ranking = g.award_cap, g.award_basis, g.award_ranking
        self.award_month = g.award_month - 1
        d = p.demonstration
        self.pilot_rate = d.pilot_subsidy_rate if g.special_fund_enabled else 0.0
        self.pilot_cap = d.pilot_subsidy_cap
        self.voucher = p["cloud.voucher"]
        self.cities_pay_vouchers = p["cloud.voucher_payer"] == "cities"
        self._met: tuple[int, SubsidyTerms] | None = None  # (month, its terms with every share 1)
        self._rule_table: np.ndarray | None = None

    def award_rate_now(self) -> float:
        """The award rate of this month's applications (0 before the fund's start)."""
        return self.award_rate if self.model.month >= self.model.government.fund_start else 0.0

    def terms(self, expected: bool = True) -> SubsidyTerms:
        """This month's terms; ``expected=False``: every share 1 (what a claim is when it is met). Those depend on
        the month alone (the rules, the robot price, the fund's start) and are built once a month (read-only); the
        expected terms share their purchase subsidies and take the shares firms expect, which change with the
        budgets, at each call."""
        m = self.model
        if self._met is None or self._met[0] != m.month:
            in_run = 0 <= m.month <= m.end_month
            rules = self._rules()[m.month] if in_run else np.array([c.rule(m.month) for c in m.cities])
            price = self.robot_price * (1.0 - self.price_decline) ** (max(m.month, 0) / 12)
            met = SubsidyTerms(robot_subsidy=np.minimum(rules[:, 0] * price, rules[:, 1]),
                               city_share=np.ones(len(m.cities)), award_rate=self.award_rate_now(),
                               award_cap=self.award_cap, fund_share=1.0, pilot_rate=self.pilot_rate,
                               pilot_cap=self.pilot_cap)
            for a in (met.robot_subsidy, met.city_share):
                a.setflags(write=False)
            self._met = (m.month, met)
        met = self._met[1]
        if not expected:
            return met
        return SubsidyTerms(met.robot_subsidy, self._city_shares(), met.award_rate, met.award_cap,
                            m.government.fund.expected_share, met.pilot_rate, met.pilot_cap)

    def _city_shares(self) -> np.ndarray:
        """The share of a claim firms expect each city's budget to pay (Budget.expected_share)."""
        return np.array([c.budget.expected_share for c in self.model.cities])

    def expected_voucher(self) -> np.ndarray:
        """Per city, the yuan a mover onto the cloud that has not had the voucher counts on: the voucher times
        the share of a claim its payer's budget paid last year (Budget.expected_share: 1 in the action's first
        year), as firms weigh the purchase subsidies and the fund's awards."""
        m = self.model
        if self.cities_pay_vouchers:
            return self.voucher * self._city_shares()
        return np.full(len(m.cities), self.voucher * m.government.vouchers.expected_share)

    def _rules(self) -> np.ndarray:
        """(months of the run, cities, 2): each city's (rate, cap per robot) in each month (CityGovernment.rule,
        which reads only the month and the city's fixed terms), built at the first call."""
        if self._rule_table is None:
            m = self.model
            self._rule_table = np.array([[c.rule(t) for c in m.cities] for t in range(m.end_month + 1)])
        return self._rule_table

    # --- payments ----------------------------------------------------------------------------------
    def _pay_by_city(self, idx: np.ndarray, claims: np.ndarray) -> np.ndarray:
        """Pay per-firm claims (yuan) of firms ``idx`` (in the order given) from their cities' budgets: each
        city with a claim pays its firms' claims (x weight) in order, as Budget.pay, in one compiled pass."""
        f, budgets = self.model.firms, [c.budget for c in self.model.cities]
        paid, claimed, total = np.zeros(idx.size), np.zeros(len(budgets)), np.zeros(len(budgets))
        paying = _pay_cities(np.asarray(idx, np.int64), f.city, np.asarray(claims, np.float64), f.weight,
                             np.array([b.remaining for b in budgets]), paid, claimed, total)
        for c in paying.nonzero()[0]:
            budgets[c].book(float(claimed[c]), float(total[c]))
        return paid

    def _record(self, idx: np.ndarray, paid: np.ndarray, flow: str) -> None:
        self.model.flow(flow, idx, paid)
        self.model.flow("subsidy_spent", idx, paid)

    def pay_robots(self, idx: np.ndarray) -> np.ndarray:
        """Implementation starts (``idx`` in queue order): the cities' robot purchase subsidies."""
        f = self.model.firms
        claims = self.terms(expected=False).robot_claim(f.city[idx], f.proj_capex[idx], f.proj_robots[idx])
        paid = self._pay_by_city(idx, claims)
        self._record(idx, paid, "subsidy_robots")
        if self.award_basis == "purchase":
            self.apply(idx, np.ones(idx.size))
        return paid

    def apply(self, idx: np.ndarray, gain_ratio: np.ndarray) -> None:
        """Projects ``idx`` apply to this year's round (their realised gain ratio ranks them)."""
        if self.award_rate_now() <= 0 or idx.size == 0:
            return
        f = self.model.firms
        claims = self.terms(expected=False).award_claim(f.proj_capex[idx])
        self.model.government.applications.append((idx.copy(), claims, gain_ratio.copy(), f.proj_capex[idx].copy()))

    def decide_round(self) -> None:
        """The year's round, in its month: leftover pilot money returns to the fund; applications are
        approved in the ranking (award_ranking, ties by a seeded random priority) within the fund."""
        m = self.model
        if m.month % 12 != self.award_month:
            return
        gov = m.government
        gov.envelope.move(gov.envelope.remaining, gov.fund)
        if not gov.applications:
            return
        idx, claims, gain, capex = (np.concatenate(a) for a in zip(*gov.applications))
        gov.applications = []
        alive = m.firms.alive[idx]  # firms that closed since they applied get nothing
        idx, claims, gain, capex = idx[alive], claims[alive], gain[alive], capex[alive]
        tie = tie_break(m.firms.key[idx], event_id("award round", m.month))
        key = {"gain": -gain, "smallest": capex, "random": np.zeros(idx.size)}[self.ranking]
        order = np.lexsort((tie, key))
        idx, claims = idx[order], claims[order]
        w = m.firms.weight[idx]
        paid = gov.fund.pay(claims * w) / w
        m.firms.cash[idx] += paid
        self._record(idx, paid, "subsidy_awards")

    def pay_pilots(self, idx: np.ndarray, capex: np.ndarray) -> np.ndarray:
        """Pilot projects start: their support from the envelope, pilots in a seeded random order."""
        m = self.model
        order = random_order(m.firms.key[idx], "pilot support", m.month)
        claims = self.terms(expected=False).pilot_claim(capex[order])
        w = m.firms.weight[idx[order]]
        paid = np.zeros(idx.size)
        paid[order] = m.government.envelope.pay(claims * w) / w
        self._record(idx, paid, "subsidy_pilots")
        return paid

    def pay_vouchers(self, idx: np.ndarray) -> np.ndarray:
        """Firms ``idx`` moved onto the cloud: vouchers in a seeded random order."""
        m = self.model
        order = random_order(m.firms.key[idx], "cloud vouchers", m.month)
        claims = np.full(idx.size, self.voucher)
        paid = np.zeros(idx.size)
        if self.cities_pay_vouchers:
            paid[order] = self._pay_by_city(idx[order], claims)
        else:
            w = m.firms.weight[idx[order]]
            paid[order] = m.government.vouchers.pay(claims * w) / w
        self._record(idx, paid, "subsidy_vouchers")
        return paid


__all__ = ["SubsidyTerms", "SubsidySchedule", "FLOWS"]

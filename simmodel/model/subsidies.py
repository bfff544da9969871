"""Subsidies (docs/ODD.md submodel "Subsidies"): the one schedule of what a project may claim,
which budget pays it and what a firm may expect. The decision, the thinning bound, the payments and
the per-firm reference all call it.

Lines of the schedule, each paid by one budget and each capped per project on its own:
  province purchase subsidy  government.purchase_subsidy_rate x equipment share x capital cost,
                             capped at government.purchase_subsidy_cap; the special fund pays it
                             when implementation starts;
  pilot extra                demonstration.pilot_subsidy_rate x capital cost for pilot firms, from
                             the special fund, uncapped;
  city top-up                cities.topup_rate x equipment share x capital cost, capped at the city's
                             cap; the firm's city pays it from its own budget when implementation starts;
  post-project subsidy       government.post_project_subsidy_rate x capital cost, from the special
                             fund on completion.
A firm expects a line while the budget that pays it has money this month (``expected=True``); the
thinning bound takes every line at its largest possible rate (``expected=False``). When the budgets
have money, what a firm expects is exactly what it is paid (tests/test_subsidies.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SubsidyTerms:
    """The rates (shares of capital cost) and caps (yuan per project) a project faces."""

    province_rate: float
    province_cap: float
    pilot_rate: float
    city_rate: np.ndarray  # (n_cities,)
    city_cap: np.ndarray  # (n_cities,)
    post_rate: float

    def purchase_claims(self, city: np.ndarray, capex: np.ndarray,
                        pilot: np.ndarray | bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(province, city) claims of projects of capital cost ``capex`` (yuan) in ``city``."""
        province = np.minimum(self.province_rate * capex, self.province_cap)
        if np.any(pilot):
            province = province + np.where(pilot, self.pilot_rate * capex, 0.0)
        return province, np.minimum(self.city_rate[city] * capex, self.city_cap[city])

    def purchase(self, city, capex, pilot=False):
        """The purchase subsidy (all lines, yuan) of projects of capital cost ``capex``."""
        province, local = self.purchase_claims(city, capex, pilot)
        return province + local

    def post(self, capex):
        """The post-project subsidy (yuan) of completed projects of capital cost ``capex``."""
        return self.post_rate * capex

    def largest_rate(self) -> np.ndarray:
        """Per city, the largest share of capital cost the purchase lines can pay (caps ignored)."""
        return self.province_rate + self.city_rate


class SubsidySchedule:
    """The schedule of the model's governments: terms by month, and payments from their budgets."""

    def __init__(self, government, cities):
        self.government, self.cities = government, cities
        gov = government
        self._province_rate = gov.purchase_rate * gov.equipment_share
        self._city_rate = np.array([c.topup_rate * c.equipment_share for c in cities])
        self._city_cap = np.array([c.cap for c in cities], float)

    def terms(self, expected: bool = True) -> SubsidyTerms:
        """This month's terms; ``expected``: lines whose budget is empty pay nothing."""
        gov = self.government
        fund = gov.fund_has_money or not expected
        city_open = np.array([c.budget_remaining > 0 or not expected for c in self.cities])
        return SubsidyTerms(
            province_rate=self._province_rate * fund, province_cap=gov.purchase_cap,
            pilot_rate=gov.pilot_rate * fund, city_rate=self._city_rate * city_open, city_cap=self._city_cap,
            post_rate=gov.post_rate if fund else 0.0,
        )

    def pay(self, city: np.ndarray, weight: np.ndarray, province: np.ndarray, local: np.ndarray) -> np.ndarray:
        """Pay per-firm claims (yuan) from the fund and the firms' cities; returns yuan paid per firm.

        Claims are paid in the order given (see allocation.pay_in_order)."""
        paid = self.government.pay(province * weight)
        if local.any():
            for c in np.unique(city[local > 0]):
                k = city == c
                paid[k] += self.cities[c].pay(local[k] * weight[k])
        return paid / weight

    def pay_purchase(self, city, weight, capex, pilot) -> np.ndarray:
        """Implementation starts: the purchase lines of projects ``capex`` (yuan per firm) are paid."""
        province, local = self.terms(expected=False).purchase_claims(city, capex, pilot)
        return self.pay(city, weight, province, local)

    def pay_post(self, city, weight, capex) -> np.ndarray:
        """Completion: the post-project subsidy of projects ``capex`` is paid from the fund."""
        return self.pay(city, weight, self.terms(expected=False).post(capex), np.zeros(capex.size))

    def pay_voucher(self, city, weight, voucher: float) -> np.ndarray:
        """Cloud vouchers (yuan per firm) paid by the firms' cities."""
        return self.pay(city, weight, np.zeros(city.size), np.full(city.size, voucher))


__all__ = ["SubsidyTerms", "SubsidySchedule"]

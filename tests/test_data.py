"""Input tables: every row has a source, shares are shares, series are complete."""

import csv

import numpy as np
import pytest

from simmodel.data import DATA_DIR, load_tables
from simmodel.params import Params


def test_every_row_of_every_table_has_a_source():
    for f in DATA_DIR.glob("*.csv"):
        for row in csv.DictReader(open(f, encoding="utf-8")):
            assert row["source"].strip(), (f.name, row)


def test_eleven_cities_and_shares_sum_to_one():
    t = load_tables()
    assert len(t.cities) == 11
    for a in (t.city_output_share, t.city_firm_share, t.sector_firm_share):
        assert np.all(a >= 0) and abs(a.sum() - 1) < 1e-9


def test_series_cover_the_longest_horizon_and_wages_rise():
    t = load_tables()
    assert list(t.years) == list(range(2013, 2031))  # scenarios may run to 2030-12
    known = np.isfinite(t.wage)
    assert list(t.years[known]) == list(range(2013, 2021))  # wage data end in 2020: then the parameter's growth
    assert np.all(np.diff(t.wage[known]) > 0) and np.all(np.diff(t.wage_private[known]) > 0)
    assert list(t.years[np.isfinite(t.va_growth)]) == list(range(2013, 2021))  # the demand index's data too
    assert np.all(t.demand_growth(0.03)[~np.isfinite(t.va_growth)] == 0.03)
    for w in t.wages(0.02):
        assert np.all(np.isfinite(w)) and np.all(np.diff(w) > 0)
        assert w[-1] == pytest.approx(w[known][-1] * 1.02**10, rel=1e-12)  # 2030: ten years after 2020
    assert t.sector_pilot_industries.sum() == 30  # 30 pilot industries (seed 000)


def test_the_default_wage_growth_after_2020_is_the_data_s_last_four_years():
    """economy.wage_growth_after_2020 defaults to the all-units wage's 2016-2020 growth (the assumption the
    extrapolated series held before it was a parameter): within the rounding of its stated 7.69 %."""
    tab = load_tables()
    r16, r20 = tab.year_row(2016), tab.year_row(2020)
    growth = (tab.wage[r20] / tab.wage[r16]) ** 0.25 - 1.0
    assert Params()["economy.wage_growth_after_2020"] == pytest.approx(growth, abs=5e-5)

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
    assert list(t.years[known]) == list(range(2013, 2023))  # wage data end in 2022: then the parameter's growth
    assert np.all(np.diff(t.wage[known]) > 0) and np.all(np.diff(t.wage_private[known]) > 0)
    assert list(t.years[np.isfinite(t.va_growth)]) == list(range(2013, 2025))  # the demand index ends in 2024
    assert np.all(t.demand_growth(0.03)[~np.isfinite(t.va_growth)] == 0.03)
    for w in t.wages(0.02):
        assert np.all(np.isfinite(w)) and np.all(np.diff(w) > 0)
        assert w[-1] == pytest.approx(w[known][-1] * 1.02**8, rel=1e-12)  # 2030: eight years after 2022
    assert t.sector_pilot_industries.sum() == 30  # 30 pilot industries (seed 000)


def test_the_projection_s_defaults_rest_on_the_last_reported_figures():
    """After the data (wages to 2022, the demand index to 2024), the wage parameter defaults to the last reported
    year's growth held: the private-unit wage's 2022 growth (the all-units series is the private one times a fixed
    ratio from 2020, so it grows alike), within the rounding of the stated 3.91 %; the demand parameter to the 2025
    government work report's aim for 2025, 6 % or more (2024's 7.5 % is not held: series.csv)."""
    tab = load_tables()
    last = int(np.flatnonzero(np.isfinite(tab.wage))[-1])
    growth = tab.wage_private[last] / tab.wage_private[last - 1] - 1.0
    assert tab.wage[last] / tab.wage[last - 1] - 1.0 == pytest.approx(growth, abs=5e-5)
    assert Params()["economy.wage_growth_after_data"] == pytest.approx(growth, abs=5e-5)
    last_va = int(np.flatnonzero(np.isfinite(tab.va_growth))[-1])
    assert tab.year_row(2024) == last_va and tab.va_growth[last_va] == 0.075
    assert Params()["economy.demand_growth_after_data"] == 0.06

"""Input tables: every row has a source, shares are shares, series are complete."""

import csv

import numpy as np

from simmodel.data import DATA_DIR, load_tables


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
    assert np.all(np.diff(t.wage) > 0)
    assert t.sector_pilot_industries.sum() == 30  # 30 pilot industries (seed 000)

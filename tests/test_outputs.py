"""Every output named in MODEL.md section 6 exists, yearly and monthly, province-wide and by city."""

import pytest

from conftest import flow_total
from simmodel.model.indicators import BY_NAME
from simmodel.runs.runner import tidy

SECTION_6 = """firms above_size_firms share_stage_0 share_stage_1 share_stage_2 share_stage_3 share_stage_4
maturity_level_1 maturity_level_2 maturity_level_3 maturity_level_4plus share_transformed_above
share_digitized_above cloud_firms robots_in_service projects_completed iot_projects_completed
labour_productivity_above profit_above profit_growth_above tech_investment tech_investment_share
labour_cost_saved share_with_labour_gap employment subsidy_spent fund_remaining loans_issued
loans_rejected leases_funds leases_materials leases_engineering defaults providers provider_utilisation
queue_length conferences_held conference_attendees pilots labour_productivity_transformed_above
labour_productivity_untransformed_above""".split()
PROVINCE_ONLY = {"fund_remaining", "providers", "provider_utilisation", "conferences_held", "pilots"}


def test_every_section_6_name_is_an_indicator():
    assert not [n for n in SECTION_6 if n not in BY_NAME]


@pytest.mark.parametrize("yearly", [True, False])
def test_every_section_6_name_is_written_for_province_and_cities(baseline, yearly):
    rows = tidy(baseline, yearly)
    have = {(r, n) for _, r, s, n, _ in rows if s == "all"}
    cities = baseline.tables.cities
    for name in SECTION_6:
        assert ("Zhejiang", name) in have, name
        if name not in PROVINCE_ONLY:
            assert all((c, name) in have for c in cities), name


def test_sector_rows_exist_yearly(baseline):
    rows = tidy(baseline, True)
    sectors = {s for _, r, s, n, _ in rows if n == "share_transformed_above"}
    assert sectors == {"all", *baseline.tables.sectors}


LEVEL_OF = {"province": lambda r, s: r == "Zhejiang" and s == "all", "city": lambda r, s: r != "Zhejiang",
            "sector": lambda r, s: s != "all"}


@pytest.mark.parametrize("yearly,level", [(True, "province"), (True, "city"), (True, "sector"),
                                          (False, "province"), (False, "city")])
def test_one_levels_tables_are_its_rows_of_the_full_tables(baseline, yearly, level):
    """A level tabulated alone (its cubes summed by einsum) and with the others (all summed in one compiled pass)
    give the same rows to the bit; each is summed afresh (the recorder keeps the last sums)."""
    baseline.recorder._group_sums = (None, {})
    full = tidy(baseline, yearly)
    baseline.recorder._group_sums = (None, {})
    alone = tidy(baseline, yearly, levels=(level,))
    assert repr(alone) == repr([r for r in full if LEVEL_OF[level](r[1], r[2])])  # repr: NaN != NaN
    assert 0 < len(alone) < len(full)


@pytest.mark.parametrize("yearly", [True, False])
def test_a_few_indicators_alone_are_their_rows_of_the_full_tables(baseline, yearly):
    """The calibration's indicators, province-wide (the one level summed by einsum, the indicators read from it),
    give the same bits as the full tables (every level summed in one compiled pass)."""
    from simmodel.analysis.calibrate import load_targets
    names = tuple(dict.fromkeys(t.indicator for t in load_targets()))
    baseline.recorder._group_sums = (None, {})
    full = tidy(baseline, yearly)
    baseline.recorder._group_sums = (None, {})
    few = tidy(baseline, yearly, names, levels=("province",))
    expected = [r for r in full if r[3] in names and LEVEL_OF["province"](r[1], r[2])]
    assert repr(sorted(few)) == repr(sorted(expected))  # ordered by period and indicator; repr: NaN != NaN
    assert {r[3] for r in few} == set(names)


def test_a_run_returns_only_the_indicators_and_levels_its_caller_asks_for():
    """runner.run with names and levels (as the calibration, validate and the optimiser ask: a few indicators,
    province-wide) returns exactly those rows of a full run, yearly and monthly."""
    from conftest import baseline_params
    from simmodel.runs import runner

    params = baseline_params().replace({"run.scale": 0.003, "run.end": "2013-12"})
    names = ("firms_stage_1plus", "cloud_firms")
    full = runner.run(params, 3, monthly=True)
    few = runner.run(params, 3, monthly=True, names=names, levels=runner.PROVINCE_ONLY)
    for got, rows in ((few.yearly, full.yearly), (few.monthly, full.monthly)):
        assert got == [r for r in rows if r[3] in names and LEVEL_OF["province"](r[1], r[2])]
        assert {r[3] for r in got} == set(names)


def test_the_indicator_dictionary_is_in_step_with_the_definitions():
    from simmodel.docgen import INDICATORS, indicators_document
    assert INDICATORS.read_text(encoding="utf-8") == indicators_document(), "run `python -m simmodel.docgen`"


def test_a_misspelt_indicator_flow_or_stock_is_an_error_not_zeros(baseline):
    from simmodel.model.indicators import indicator
    from simmodel.model.recorder import tidy_rows
    with pytest.raises(KeyError, match="did you mean share_transformed_above"):
        indicator("share_transformd_above")
    with pytest.raises(KeyError, match="unknown indicator"):
        tidy_rows(baseline.recorder, True, ("cloud_firm",))
    with pytest.raises(KeyError, match="unknown flow"):
        baseline.recorder.add_flow("subsidies_spent", baseline.firms.cell[:1], baseline.firms.weight[:1])
    with pytest.raises(KeyError, match="unknown stock"):
        baseline.recorder.collect(0, baseline.firms.stock_key, {"robot": baseline.firms.robots}, {})
    with pytest.raises(KeyError, match="unknown scalar"):
        baseline.recorder.collect(0, baseline.firms.stock_key, {}, {"fund_remainig": 1.0})
    with pytest.raises(TypeError, match=r"stock quantities \['robots'\]: give float64 or bool"):
        baseline.recorder.collect(0, baseline.firms.stock_key, {"robots": list(baseline.firms.robots)}, {})


def test_every_indicator_has_a_label_a_unit_and_a_definition():
    from simmodel.model.indicators import HEADLINE, INDICATORS, MONITORED
    assert all(i.label and i.unit and i.doc and i.scale > 0 for i in INDICATORS)
    assert all(BY_NAME[n].short for n in HEADLINE) and set(MONITORED) <= set(BY_NAME)


def test_a_binned_flow_adds_exactly_what_one_flow_per_bin_would(baseline):
    """The payback histogram, and the adopters' applications and finance routes, are each recorded in one pass
    (Recorder.add_binned_flow); each bin's cells must add its firms in the same order as one add_flow call per
    bin, to the bit."""
    import copy

    import numpy as np

    from simmodel.model.indicators import PAYBACK_BINS

    rng = np.random.default_rng(3)
    n = 500
    key, bins = rng.integers(0, 3, n), rng.integers(0, 4, n)  # many firms a cell: the order of additions matters
    amounts = rng.lognormal(3.0, 2.0, n)  # a wide range, so that the order of additions shows in the bits
    one, each = copy.deepcopy(baseline.recorder), copy.deepcopy(baseline.recorder)
    one.add_binned_flow(PAYBACK_BINS, bins, key, amounts)
    for b in range(len(PAYBACK_BINS)):
        if (bins == b).any():
            each.add_flow(PAYBACK_BINS[b], key[bins == b], amounts[bins == b])
    assert one.month_flows.tobytes() == each.month_flows.tobytes()
    # flows anywhere in FLOWS, in any order, and firms in no flow (bin -1)
    names = ("leases_engineering", "projects_applied", "loans_issued")
    bins = rng.integers(-1, 3, n)
    one.add_binned_flow(names, bins, key, amounts)
    for b in range(len(names)):
        each.add_flow(names[b], key[bins == b], amounts[bins == b])
    assert one.month_flows.tobytes() == each.month_flows.tobytes()
    assert (bins == -1).sum() > 50
    with pytest.raises(KeyError, match="unknown flow"):
        one.add_binned_flow(("projects_applied", "project_completed"), bins[:2] % 2, key[:2], amounts[:2])
    with pytest.raises(IndexError, match="a bin outside"):
        one.add_binned_flow(PAYBACK_BINS[:3], np.array([0, 3]), key[:2], amounts[:2])
    with pytest.raises(IndexError, match="a bin outside"):
        one.add_binned_flow(PAYBACK_BINS[:3], np.array([0, -2]), key[:2], amounts[:2])


@pytest.mark.parametrize("given", ["all", "floats", "flags", "sparse"])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_months_stocks_are_each_cells_sums_of_its_firms_to_the_bit(baseline, weighted, given):
    """Recorder.collect sums every quantity over the firms of each stock cell (one pass over the firms for all
    of them); each cell must hold what np.bincount of that quantity gives, in firm order, to the bit, and a
    quantity given sparsely (the firms where it is not zero) the same as given for every firm; with every kind
    of quantity given, or floats, flags or sparse quantities alone (the count still summed)."""
    import copy

    import numpy as np

    from simmodel.model.indicators import STOCKS

    rec = copy.deepcopy(baseline.recorder)
    rng = np.random.default_rng(5)
    n, k4 = 4000, rec.k_stock * 4
    # many firms a cell, in 40 cells spread over the cube, in all four (high-tech, emerging) flag slots
    key = rng.integers(0, 40, n) * (k4 // 40) + rng.integers(0, 4, n)
    weights = rng.uniform(0.5, 30.0, n) if weighted else None
    va, profit = rng.lognormal(10.0, 2.0, n), rng.normal(0.0, 1e5, n)
    robots = np.where(rng.random(n) < 0.3, rng.lognormal(1.0, 1.0, n), 0.0)
    gap = rng.random(n) < 0.4
    some = robots.nonzero()[0]
    quantities = {"va": va, "profit": profit, "gap_firms": gap, "robots": robots,
                  "workers_saved": (some, robots[some])}
    kept = {"all": quantities, "floats": ("va", "profit", "robots"), "flags": ("gap_firms",),
            "sparse": ("workers_saved",)}[given]
    quantities = {n: q for n, q in quantities.items() if n in kept}
    rec.collect(0, key, quantities, {}, weights=weights)
    cell_weights = rec._cell_weights if weights is None else 1.0
    for name, q in (("firms", None), ("va", va), ("profit", profit), ("gap_firms", gap), ("robots", robots),
                    ("workers_saved", robots)):
        if name not in quantities and name != "firms":
            assert not rec.stocks[0, STOCKS.index(name)].any(), name
            continue
        w = q if weights is None else (weights if q is None else q * weights)
        cube = np.bincount(key, weights=w, minlength=k4) * cell_weights
        expected = ((cube[0::4] + cube[1::4]) + cube[2::4]) + cube[3::4]
        assert rec.stocks[0, STOCKS.index(name)].tobytes() == expected.tobytes(), name
        if name == "va":  # the value added of high-tech firms (flags 1, 0 and 1, 1) and of emerging ones (0, 1; 1, 1)
            assert rec.stocks[0, STOCKS.index("va_hightech")].tobytes() == (cube[2::4] + cube[3::4]).tobytes()
            assert rec.stocks[0, STOCKS.index("va_emerging")].tobytes() == (cube[1::4] + cube[3::4]).tobytes()
    with pytest.raises(TypeError, match="employees"):
        rec.collect(1, key, {"employees": va.astype(np.float32)}, {})


def test_months_collected_in_turn_hold_their_own_firms_and_flows_alone():
    """Recorder.collect sums into a cube kept between months and folds only the cells the month's firms occupy,
    and a month's flows add up in its own row: month after month, with firms moving between cells (cells emptied
    and newly occupied), every month must hold exactly what a recorder given that month alone holds, to the bit
    (nothing of the month before left in a cell, a sparse quantity or a flow), and so must a month collected
    again, a recorder copied in the middle of a month, and months collected out of order."""
    import copy

    import numpy as np

    from simmodel.model import TransformationModel
    from simmodel.model.indicators import FLOWS

    base = TransformationModel(seed=1, scale=0.003).recorder
    rng = np.random.default_rng(11)
    n, k4 = 3000, base.k_stock * 4
    months = []
    for t in range(4):  # firms in 30 cells a month, drawn afresh: most cells of a month are empty the next
        key = rng.choice(k4 // 4, 30, replace=False)[rng.integers(0, 30, n)] * 4 + rng.integers(0, 4, n)
        va, gap = rng.lognormal(10.0, 2.0, n), rng.random(n) < 0.4
        some = rng.choice(n, 50, replace=False)
        q = {"va": va, "gap_firms": gap, "debt": (some, rng.lognormal(12.0, 1.0, 50))}
        flow = (rng.integers(0, base.k_flow, 20), rng.lognormal(5.0, 1.0, 20))
        months.append((key, q, flow))

    def alone(t):
        rec = copy.deepcopy(base)
        key, q, (cells, amounts) = months[t]
        rec.add_flow("project_investment", cells, amounts)
        rec.collect(t, key, q, {})
        return rec.stocks[t].tobytes(), rec.flows[t].tobytes()

    want = [alone(t) for t in range(4)]
    rec = copy.deepcopy(base)
    for t, (key, q, (cells, amounts)) in enumerate(months):
        rec.add_flow("project_investment", cells[:10], amounts[:10])
        if t == 2:  # a copy in the middle of a month carries on with its flows
            rec = copy.deepcopy(rec)
        rec.add_flow("project_investment", cells[10:], amounts[10:])
        rec.collect(t, key, q, {})
    for t in range(4):
        assert (rec.stocks[t].tobytes(), rec.flows[t].tobytes()) == want[t], t
        assert rec.flows[t, FLOWS.index("project_investment")].any()
    assert not rec._scratch.any()
    assert not rec.month_flows.any() and not rec.flows[4].any()  # the next month's row: nothing added yet
    key, q, (cells, amounts) = months[1]  # month 1 again, over what it held
    rec.add_flow("project_investment", cells, amounts)
    rec.collect(1, key, q, {})
    assert (rec.stocks[1].tobytes(), rec.flows[1].tobytes()) == want[1]
    later = copy.deepcopy(base)  # out of order: month 3 then month 2
    for t in (3, 2):
        key, q, (cells, amounts) = months[t]
        later.add_flow("project_investment", cells, amounts)
        later.collect(t, key, q, {})
    for t in (3, 2):
        assert (later.stocks[t].tobytes(), later.flows[t].tobytes()) == want[t], t
    assert not later.flows[4].any()  # where month 3's collection sent the next month's flows


def test_no_flow_cell_is_ever_negative_zero(baseline):
    """The flow kernels add a call's sums only to the cells its firms occupy, which gives numpy's bits (adding 0.0
    to every cell) only if no cell is -0.0. A cell starts at 0.0 and is only added to, and x + y is -0.0 only if
    both are: the baseline's recorded months must hold no -0.0, nor must the month being recorded once -0.0
    amounts are added to it."""
    import copy

    import numpy as np

    rec = copy.deepcopy(baseline.recorder)
    rec.add_firm_flow("project_investment", np.arange(5), baseline._flow_key, baseline.firms.weight,
                      np.full(5, -0.0))
    for flows in (rec.flows, rec.month_flows):
        assert not (np.signbit(flows) & (flows == 0.0)).any()


@pytest.mark.parametrize("with_amounts", [False, True])
def test_a_firms_flow_is_add_flow_of_their_keys_and_amounts_times_weights_to_the_bit(with_amounts):
    """Recorder.add_firm_flow records firms ``idx`` (real firms, or yuan per firm x weight) in one compiled pass
    (recorder._add_firm_flow, what model.flow calls); the month's flows must be, to the bit, what add_flow of the
    gathered keys and amounts x weights gives (np.bincount added to the row): many firms a cell in a shuffled
    order, rows that already hold sums of both signs (and cells still 0.0), amounts of both signs and magnitudes,
    some 0.0 and -0.0, and cells only -0.0 reaches (the cell's sum starts at 0.0, so it stays 0.0). The kernel
    adds to the cells its firms occupy only; a row's other cells are never -0.0 (added to from 0.0 only: see
    test_no_flow_cell_is_ever_negative_zero), so adding numpy's 0.0 to them changes no bit."""
    import copy

    import numpy as np

    from simmodel.model import TransformationModel
    from simmodel.model.indicators import FLOWS

    rec = TransformationModel(seed=1, scale=0.005).recorder
    rng = np.random.default_rng(9)
    k, n = rec.k_flow, 6000
    shape = rec.month_flows.shape
    rec.month_flows[:] = rng.normal(0.0, 1e4, shape) * 10.0 ** rng.integers(-3, 4, shape)
    rec.month_flows[:, ::7] = 0.0
    busy = rng.choice(k // 7, 6, replace=False) * 7 + 1  # six cells, not starting at 0.0
    zeros_only = np.arange(0, k, 7)[:3]  # three cells starting at 0.0 that only -0.0 amounts reach
    key = busy[rng.integers(0, busy.size, n)]
    key[:60] = zeros_only[np.arange(60) % 3]
    weight = rng.uniform(0.5, 30.0, n)
    idx = rng.permutation(n)[: n - 500]  # a shuffled subset of the firms
    amounts = None
    if with_amounts:
        amounts = rng.choice([-1.0, 1.0], idx.size) * rng.lognormal(8.0, 3.0, idx.size)
        amounts[::11], amounts[5::11] = 0.0, -0.0
        amounts[idx < 60] = -0.0
    for name in ("project_investment", "subsidy_spent", "projects_applied"):
        assert name in FLOWS
        one, gathered = copy.deepcopy(rec), copy.deepcopy(rec)
        one.add_firm_flow(name, idx, key, weight, amounts)
        w = weight[idx]
        gathered.add_flow(name, key[idx], w if amounts is None else amounts * w)
        assert one.month_flows.tobytes() == gathered.month_flows.tobytes(), name
        row = one.month_flows[FLOWS.index(name)]
        assert (row != rec.month_flows[FLOWS.index(name)]).sum() >= busy.size  # the firms' cells changed
        if amounts is not None:  # 0.0 + (0.0 + -0.0 + ...): 0.0
            assert np.all(row[zeros_only] == 0.0) and not np.signbit(row[zeros_only]).any()
        one.add_firm_flow(name, idx[:0], key, weight, None if amounts is None else amounts[:0])  # nothing
        assert one.month_flows.tobytes() == gathered.month_flows.tobytes()
    with pytest.raises(KeyError, match="unknown flow"):
        rec.add_firm_flow("subsidies_spent", idx, key, weight, amounts)


def test_every_firms_keys_are_the_documented_layout_of_its_attributes(baseline):
    """After a run in which firms climbed stages, moved onto and off the cloud and crossed the size threshold:
    each firm's decision key is cell x 5 + stage, and its stock key the recorder's documented layout (city x
    sector x size x stage x cloud x high-tech x emerging, cell = city x n_sectors + sector)."""
    import numpy as np

    f, ns = baseline.firms, baseline.tables.n_sectors
    assert np.array_equal(f.cell, f.city * ns + f.sector)
    assert (f.stage > 0).any() and f.on_cloud.any() and f.hightech.any() and f.emerging.any()
    assert flow_total(baseline, "crossed_up") > 0 and flow_total(baseline, "crossed_down") > 0
    assert flow_total(baseline, "cloud_migrations") > 0 and flow_total(baseline, "cloud_exits") > 0
    assert np.array_equal(f.combo, f.cell.astype(np.int64) * 5 + f.stage)
    key = ((((f.cell.astype(np.int64) * 2 + f.above) * 5 + f.stage) * 2 + f.on_cloud) * 2 + f.hightech) * 2 + f.emerging
    assert np.array_equal(f.stock_key, key)

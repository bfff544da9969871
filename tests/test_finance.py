"""Banks and leasing: credit rationing, the three leasing models, defaults."""

import numpy as np
import pytest

from conftest import SMALL, baseline_params, flow_total, run
from simmodel.model.firms import LEASE_ENGINEERING, LEASE_FUNDS, LEASE_MATERIALS
from simmodel.model.indicators import FLOWS
from simmodel.model.econ import annuity_payment
from simmodel.model import TransformationModel, finance

NO_LEASING = dict(leasing__funds_enabled=False, leasing__materials_enabled=False, leasing__engineering_enabled=False)


def _small_firm_projects(m):
    flows = m.recorder.flows[:, FLOWS.index("projects_started")]
    return flows.reshape(flows.shape[0], -1, 2)[:, :, 0].sum()  # size class 0: below designated size


def test_without_leasing_firms_with_little_collateral_start_fewer_projects():
    # on every one of three seeds (common random numbers): small firms, with the least collateral,
    # start fewer projects when no lessor carries part of the shortfall
    for seed in (7, 8, 9):
        base, none = run(seed), run(seed, **NO_LEASING)
        assert flow_total(base, "leases_funds") > 0
        assert _small_firm_projects(none) < _small_firm_projects(base), seed


def test_each_leasing_model_can_be_switched_off_alone():
    for flag, flow in (("funds", "leases_funds"), ("materials", "leases_materials"),
                       ("engineering", "leases_engineering")):
        m = run(**{f"leasing__{flag}_enabled": False})
        assert flow_total(m, flow) == 0.0


def test_no_lease_before_a_models_start_date():
    m = run(leasing__engineering_start="2018-01", leasing__funds_start="2016-07")
    assert flow_total(m, "leases_engineering", slice(0, 60)) == 0.0
    assert flow_total(m, "leases_funds", slice(0, 42)) == 0.0 and flow_total(m, "leases_funds") > 0


def test_the_bank_rations_credit_by_collateral_and_profitability():
    m = TransformationModel(seed=1, scale=0.005)
    b = m.bank
    loan = np.full(3, 1e6)
    assert np.all(np.diff(b.approval_probability(loan, np.array([5e5, 2e6, 8e6]), np.full(3, 0.1), np.full(3, 50))) > 0)
    assert np.all(np.diff(b.approval_probability(loan, np.full(3, 2e6), np.array([-0.1, 0.1, 0.3]), np.full(3, 50))) > 0)



def test_the_bank_lends_only_to_a_firm_whose_income_covers_its_payments_min_coverage_times():
    """Two firms with collateral for far more than the loan, the same debts and the same request: the one whose
    income covers its old payments and the new loan's (at the highest rate the bank charges, base + the whole
    spread) min_coverage times gets the loan; the one whose income covers them once, at the lowest rate, gets
    nothing."""
    m = TransformationModel(seed=1, scale=0.005)
    b, p = m.bank, m.params
    years, cover = p["bank.loan_years"], p["bank.min_coverage"]
    paying, want = 50_000.0, 1e6
    cheapest = paying + 12.0 * annuity_payment(want, p["bank.base_rate"], years)
    dearest = paying + 12.0 * annuity_payment(want, p["bank.base_rate"] + p["bank.max_spread"], years)
    _, rate, loan = b.terms(np.full(2, want), np.full(2, 1e9), np.full(2, 0.1), np.full(2, 50.0), np.full(2, 2e5),
                            np.full(2, paying), np.array([cheapest, cover * dearest]))
    assert cover > 1.0 and np.all(rate <= p["bank.base_rate"] + p["bank.max_spread"])
    assert loan[0] == 0.0 and loan[1] == want

def test_lending_standards_tighten_after_defaults():
    m = TransformationModel(seed=1, scale=0.005)
    b = m.bank
    before = b.approval_probability(np.array([1e6]), np.array([2e6]), np.array([0.1]), np.array([50]))
    for _ in range(6):
        b.wrote_off(50.0)
        b.record_month(borrowers=1000.0)
    b.step()
    after = b.approval_probability(np.array([1e6]), np.array([2e6]), np.array([0.1]), np.array([50]))
    assert b.tightening > 0 and after < before


def test_the_banks_defaults_are_the_borrowers_whose_loans_it_writes_off():
    """The bank's lending standards count as defaults the real firms whose loan it writes off (finance.write_off):
    borrowers whose cash fell too far, and borrowers that closed owing it. Until 2026-12-06 closures were left out
    (64-73 % of its write-offs to 2020, seeds 1-2, scale 0.02); until the thirty-first session (the same day) firms
    that owed only a lease were counted when their cash fell too far, though they default to their lessor and are
    not among the borrowers (14-17 % of those defaults). Each month of a run with firm dynamics, the window's newest
    entry is the weight of the firms written off with a loan, by hand from the firms' debt as write_off receives
    them; both kinds occur, and some cash defaulters owe only a lease."""
    m = TransformationModel.from_scenario("baseline", seed=2, scale=0.02, end="2018-12")
    assert m.dynamics.enabled
    written, lease_only, recorded = {}, {}, {}
    write_off, record = finance.write_off, m.bank.record_month

    def writing_off(f, d, *args):
        owed = f.debt[d] > 0
        written[m.month] = written.get(m.month, 0.0) + float(f.weight[d][owed].sum())
        leases = ~owed & (f.lease_liability[d] > 0)
        lease_only[m.month] = lease_only.get(m.month, 0.0) + float(f.weight[d][leases].sum())
        return write_off(f, d, *args)

    def recording(borrowers):
        record(borrowers)
        recorded[m.month] = m.bank._defaults[0]

    finance.write_off, m.bank.record_month = writing_off, recording
    try:
        m.run()
    finally:
        finance.write_off = write_off
    assert sum(lease_only.values()) > 0 and sum(written[t] for t in written if t % 12 == 0) > 0  # closures, January
    assert sum(written[t] for t in written if t % 12) > 0  # cash defaults with a loan, other months
    for t, counted in recorded.items():
        assert counted == written.get(t, 0.0), t


def test_existing_debt_lowers_what_the_bank_will_lend():
    m = TransformationModel(seed=1, scale=0.005)
    b = m.bank
    args = dict(value_added=np.full(2, 1e7), margin=np.full(2, 0.2), employees=np.full(2, 50),
                paying=np.zeros(2), income=np.full(2, 1e8))
    _, _, loan = b.terms(np.full(2, 4e6), owed=np.array([0.0, 3e6]), **args)
    assert loan[1] < loan[0]


def test_who_bears_a_shortfall_differs_by_leasing_model():
    from simmodel.model.finance import share_shortfall
    m = TransformationModel(seed=1, scale=0.005)
    f = m.firms
    idx = np.arange(3)
    f.lease_model[idx] = [LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING]
    f.lease_liability[idx] = 1e6
    f.lease_payment[idx] = annuity_payment(np.full(3, 1e6), 0.08, 5)
    before = f.lease_payment[idx].copy()
    share_shortfall(f, idx, np.full(3, 0.5), np.zeros(3), m.leasing)  # the gain came out at half the nominal
    after = f.lease_payment[idx]
    assert after[0] == pytest.approx(before[0])  # funds: the firm bears it all
    assert after[1] == pytest.approx(before[1] * (1 - 0.5 * 0.5))  # materials: the maker carries half
    assert after[2] == pytest.approx(before[2] * 0.5)  # engineering: paid from the savings


def test_a_completion_cuts_shortfall_leases_books_the_relief_and_records_the_leased_share_of_the_gain():
    """share_shortfall, firm by firm as its docstring has it: each leased firm's liability and payment are cut by
    1 - (1 - risk share) x clip(1 - ratio, 0, 1); its lessor books the liability forgiven (x weight) as shortfall;
    the firm's lease gain grows by clip(borrowed / (capex + fee), 0, 1) x the project's log gain (what a lessor
    owning the equipment takes back on a write-off). A firm without a lease, or with its lease paid off, is left
    alone."""
    from simmodel.model.finance import share_shortfall
    m = TransformationModel(seed=1, scale=0.005)
    f, lp = m.firms, m.leasing
    idx = np.array([9, 4, 7, 2, 5, 8])
    f.lease_model[idx] = [LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING, LEASE_MATERIALS, 0, LEASE_ENGINEERING]
    f.lease_liability[idx] = [1e6, 2e6, 3e6, 4e5, 5e5, 0.0]
    f.lease_payment[idx] = [2e4, 4e4, 6e4, 8e3, 1e4, 0.0]
    f.lease_gain[idx] = [0.0, 0.01, 0.0, 0.02, 0.0, 0.0]
    f.proj_capex[idx], f.proj_fee[idx] = 1e6, 1e5
    f.proj_borrowed[idx] = [5.5e5, 1.1e6, 2e6, 0.0, 3e5, 1e5]
    f.weight[idx] = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    ratio, gain_log = np.array([0.5, 0.8, 1.3, 0.25, 0.5, 0.5]), np.log1p([0.1, 0.2, 0.3, 0.05, 0.1, 0.1])
    before = {a: getattr(f, a)[idx].copy() for a in ("lease_liability", "lease_payment", "lease_gain")}
    booked = {mm: lp.books[mm]["shortfall"] for mm in (LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING)}
    share_shortfall(f, idx, ratio, gain_log, lp)
    relief = dict.fromkeys(booked, 0.0)
    for j, i in enumerate(idx.tolist()):
        liab, pay, gain = (before[a][j] for a in ("lease_liability", "lease_payment", "lease_gain"))
        model = int(f.lease_model[i])
        if model < LEASE_FUNDS or liab <= 0:
            assert (f.lease_liability[i], f.lease_payment[i], f.lease_gain[i]) == (liab, pay, gain), j
            continue
        cut = 1.0 - (1.0 - lp.risk_share[model]) * min(max(1.0 - ratio[j], 0.0), 1.0)
        assert f.lease_liability[i] == pytest.approx(liab * cut, rel=1e-12), j
        assert f.lease_payment[i] == pytest.approx(pay * cut, rel=1e-12), j
        financed = min(max(f.proj_borrowed[i] / (f.proj_capex[i] + f.proj_fee[i]), 0.0), 1.0)
        assert f.lease_gain[i] == pytest.approx(gain + financed * gain_log[j], rel=1e-12), j
        relief[model] += liab * (1.0 - cut) * f.weight[i]
    for mm, yuan in relief.items():
        assert lp.books[mm]["shortfall"] - booked[mm] == pytest.approx(yuan, rel=1e-12, abs=1e-6), mm
    assert relief[LEASE_MATERIALS] > 0 and relief[LEASE_FUNDS] == 0  # the funds lessor carries none of it


def test_lessors_price_the_risk_they_carry():
    m = TransformationModel(seed=1, scale=0.005)
    lp = m.leasing
    pd, shortfall = np.array([0.0, 0.1]), np.array([0.2, 0.2])
    funds, eng = lp.rate(LEASE_FUNDS, pd, shortfall), lp.rate(LEASE_ENGINEERING, pd, shortfall)
    assert np.all(eng > funds)  # the engineering lessor carries the shortfall: it charges for it
    assert funds[1] > funds[0]  # a riskier firm pays more
    assert lp.rate(LEASE_FUNDS, pd, np.array([0.0, 0.5]))[1] == pytest.approx(funds[1])  # funds: firm bears it


def test_worse_terms_for_one_leasing_model_move_firms_to_the_others():
    """Makers who recover nothing of a defaulted lease price 'financing materials' dearer: fewer firms take
    it and more take the other plans, the other leases or the bank (four seeds, common random numbers)."""
    base = [run(s) for s in (1, 2, 3, 4)]
    worse = [run(s, leasing__materials_recovery=0.0) for s in (1, 2, 3, 4)]
    mat = [flow_total(b, "leases_materials") - flow_total(w, "leases_materials") for b, w in zip(base, worse)]
    other = ("leases_funds", "leases_engineering", "loans_issued")
    others = [sum(flow_total(w, n) - flow_total(b, n) for n in other) for b, w in zip(base, worse)]
    assert np.mean(mat) > 0 and np.mean(others) > 0


def test_a_lessor_owning_the_equipment_recovers_part_of_a_default():
    m = run()
    from simmodel.model.finance import LEASES
    books = m.leasing.books
    assert sum(books[k]["recovered"] for k in LEASES) > 0 or sum(books[k]["written_off"] for k in LEASES) == 0
    eng = books[LEASE_ENGINEERING]
    assert m.leasing.capital == pytest.approx(m.params["leasing.engineering_capital"] - eng["shortfall"]
                                              - eng["written_off"] + m.leasing.engineering_income, rel=1e-9)


def test_defaults_happen_and_wipe_the_defaulters_debts():
    m = run()
    assert flow_total(m, "defaults") > 0
    f = m.firms
    excluded = f.excluded_until > m.month
    assert excluded.any() and np.all(f.debt[excluded] == 0) and np.all(f.lease_liability[excluded] == 0)
    assert m.bank.written_off_total + m.leasing.written_off_total > 0


def test_no_bank_loans_when_loans_are_switched_off():
    m = run(bank__loans_enabled=False)
    assert flow_total(m, "loans_issued") == 0 and m.bank.lent_total == 0


def test_the_month_records_exactly_the_firms_that_owe(monkeypatch):
    # the recorder gets the firms still owing after the month's service and defaults from the accounts (no
    # second scan); every month that set must equal a scan of the balances, with loans paid off, leases
    # ended and defaulters' debts wiped out of it
    import simmodel.model.model as M

    seen = {"months": 0, "dropped": 0}
    record = M.record_month
    service = M.finance.service

    def counting_service(firms, bank, leasing):
        owed = service(firms, bank, leasing)
        seen["dropped"] += int(((firms.debt[owed] <= 0) & (firms.lease_liability[owed] <= 0)).sum())
        return owed

    def checked(model, wage, owing):
        f = model.firms
        assert np.array_equal(owing, ((f.debt > 0) | (f.lease_liability > 0)).nonzero()[0]), model.month
        seen["months"] += 1
        record(model, wage, owing)

    monkeypatch.setattr(M, "record_month", checked)
    monkeypatch.setattr(M.finance, "service", counting_service)
    m = TransformationModel(seed=3, params=baseline_params().replace({**SMALL, "run.end": "2016-12"}))
    m.run()
    assert seen["months"] == 48 and seen["dropped"] > 0 and flow_total(m, "defaults") > 0


def test_a_lessor_leases_only_to_a_firm_whose_income_covers_the_payments_min_coverage_times():
    """The same break-even firm, short of cash, asks for the same project under each leasing model, once with an
    expected benefit that covers the smallest lease's principal / term exactly once (below min_coverage times any
    payments, which are at least that) and once with one covering min_coverage times the whole project's
    principal / term + interest at the highest rate a lessor can charge (the cost of funds and margin, the
    riskiest firm's default probability, a full shortfall over the term; an annuity's yearly payments are at most
    principal / term + interest): every lessor refuses the first and approves the second, leasing what the down
    payment leaves."""
    from simmodel.params import month_index
    m = TransformationModel(seed=1, scale=0.005, **{"leasing.min_margin": 0.0})
    m.month = month_index("2016-06")  # all three models on offer
    assert sorted(m.leasing.offered()) == [LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING]
    f, i, need = m.firms, 0, 2e6
    f.cash[i], f.profit[i], f.margin[i] = 0.5 * need, 0.0, 0.0  # pays any down payment, not the whole project
    f.debt[i] = f.lease_liability[i] = f.debt_payment[i] = f.lease_payment[i] = 0.0
    f.excluded_until[i] = 0
    p = m.params
    years, cover = p["leasing.lease_years"], p["bank.min_coverage"]
    down = np.array([p["leasing.funds_down_payment"], p["leasing.materials_down_payment"], 0.0])
    leased = (1.0 - down) * need
    max_rate = p["leasing.funding_rate"] + p["leasing.margin"] + p["leasing.pd_max"] + 1.0 / years
    low, high = leased.min() / years, cover * need * (1.0 / years + max_rate)
    q = m.adoption.quote(np.array([i, i]), np.full(2, need), np.array([low, high]))
    assert cover > 1.0 and q.lease_rate.max() <= max_rate
    assert not q.lease_ok[0].any(), f"income {low:.0f} < min_coverage x payments, yet approved: {q.lease_ok[0]}"
    assert q.lease_ok[1].all(), f"income {high:.0f} covers the payments, yet refused: {q.lease_ok[1]}"
    assert q.lease_amount[1] == pytest.approx(leased)


def test_a_lessor_owning_the_equipment_takes_back_the_leased_part_of_the_gain_when_a_lease_is_written_off():
    """When a firm's lease is written off (a default or an exit), the lessor of 'financing funds' and the maker of
    'financing materials' own the equipment and take it back: the firm's productivity falls by the leased part of
    its gain (here a 20 % gain). The engineering lessor owns nothing the firm keeps: its productivity stays."""
    from simmodel.model.finance import write_off
    m = TransformationModel(seed=1, scale=0.005)
    f = m.firms
    idx = np.arange(3)
    f.lease_model[idx] = [LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING]
    f.lease_liability[idx] = 1e6
    f.lease_gain[idx] = np.log(1.2)
    before = f.productivity[idx].astype(float)
    write_off(f, idx, m.bank, m.leasing, m.tables.sector_labour_saving)
    after = f.productivity[idx].astype(float)
    assert after[:2] == pytest.approx(before[:2] / 1.2, rel=1e-6)  # float32 productivity
    assert after[2] == pytest.approx(before[2], rel=1e-6)
    assert np.all(f.lease_liability[idx] == 0) and np.all(f.lease_gain[idx] == 0)


def test_equipment_taken_back_during_implementation_leaves_the_project_at_the_firms_own_share():
    """A firm that defaults while its leased project is being implemented loses the leased equipment too: the
    project carries on at the share the firm paid itself, so its scale (which its realised gain follows) and capital
    cost fall by the lease's share (400,000 of 1,000,000 yuan of capital and fees here). Before, only completed
    projects' gains were taken back, so such a firm kept the whole gain of equipment its lessor had already
    recovered (60-100 real firms and 9-14 m yuan booked as recovered to 2020, seed 1, scale 0.05). The engineering
    lessor owns nothing to take back; a project financed otherwise, or one not yet implementing, is untouched."""
    from simmodel.model.finance import write_off
    from simmodel.model.firms import APPROVAL, IMPLEMENTING, LOAN
    m = TransformationModel(seed=1, scale=0.005)
    f = m.firms
    idx = np.arange(5)
    routes = [LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING, LOAN, LEASE_FUNDS]
    f.lease_model[idx] = [LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING, LEASE_FUNDS, LEASE_FUNDS]
    f.lease_liability[idx] = 4e5
    f.proj_phase[idx] = [IMPLEMENTING] * 4 + [APPROVAL]
    f.proj_route[idx] = routes
    f.proj_capex[idx], f.proj_fee[idx], f.proj_borrowed[idx], f.proj_scale[idx] = 9e5, 1e5, 4e5, 0.8
    write_off(f, idx, m.bank, m.leasing, m.tables.sector_labour_saving)
    assert f.proj_scale[idx].tolist() == pytest.approx([0.48, 0.48, 0.8, 0.8, 0.8], rel=1e-12)
    assert f.proj_capex[idx].tolist() == pytest.approx([5.4e5, 5.4e5, 9e5, 9e5, 9e5], rel=1e-12)
    assert f.proj_phase[idx].tolist() == [IMPLEMENTING] * 4 + [APPROVAL]  # the firm's own share carries on


def test_a_months_service_pays_each_firms_annuity_as_the_rule_says_to_the_bit():
    # finance.service pays loans and leases firm by firm in one compiled pass; every firm's balance, payment,
    # profit, cash and margin, and the bank's books, must be what the rule gives written out over arrays:
    # interest = balance x rate / 12; principal = payment - interest within [0, balance]; a balance left at
    # 1e-6 or less is paid off whole and its payment stops; profit carries 12 x interest, cash the principal
    import copy

    from simmodel.model import finance

    m = TransformationModel(seed=5, params=baseline_params().replace({**SMALL, "run.end": "2017-06"}))
    m.run()
    f = m.firms
    f.debt_payment[(f.debt > 0).nonzero()[0][::7]] = 0.0  # some firms pay nothing this month, some pay off
    f.debt_payment[(f.debt > 0).nonzero()[0][1::9]] *= 1e6
    f.lease_payment[(f.lease_liability > 0).nonzero()[0][2::9]] *= 1e6
    tiny = (f.debt > 0).nonzero()[0][3::9]
    f.debt[tiny], f.debt_payment[tiny] = 5e-4, 0.0  # below a yuan, above the 1e-6 left that counts as paid
    owed = ((f.debt > 0) | (f.lease_liability > 0)).nonzero()[0]
    assert owed.size > 100 and (f.lease_liability > 0).sum() > 50
    want = copy.deepcopy(f)
    interest_before = m.bank.interest_total
    bank_interest = 0.0
    for balance, payment, rate in (("debt", "debt_payment", "debt_rate"),
                                   ("lease_liability", "lease_payment", "lease_rate")):
        bal, pay, r = getattr(want, balance), getattr(want, payment), getattr(want, rate)
        b = bal[owed]
        interest = b * r[owed] / 12.0
        principal = np.clip(pay[owed] - interest, 0.0, b)
        left = b - principal
        left[left <= 1e-6] = 0.0
        principal[left == 0] = b[left == 0]
        bal[owed] = left
        pay[owed[left == 0]] = 0.0
        want.profit[owed] -= 12.0 * interest
        want.cash[owed] -= principal
        if balance == "debt":
            bank_interest = float((interest * want.weight[owed]).sum())
    want.margin[owed] = np.clip(want.profit[owed] / np.maximum(want.value_added[owed], 1.0), -1.0, 1.0)
    got = finance.service(f, m.bank, m.leasing)
    assert np.array_equal(got, owed)
    for name in ("debt", "debt_payment", "lease_liability", "lease_payment", "profit", "cash", "margin"):
        assert getattr(f, name).tobytes() == getattr(want, name).tobytes(), name
    assert (f.debt[owed] == 0).sum() > 0 and (f.lease_liability[owed] == 0).sum() > 0  # some paid off
    assert (f.debt[tiny] > 0).all()
    assert m.bank.interest_total - interest_before == pytest.approx(bank_interest, rel=1e-12)


def _quote_as_it_was(f, idx, need, benefit, month, bank, leasing, sector_mean, gain_sd, own_rate, min_fraction):
    """finance.quote as it was before the compiled kernel (f5b01ba: finance.quote, Bank.terms,
    Bank.approval_probability, Bank.collateral, LeasingPartner.rate and .approve, and the econ formulas they used),
    written out over arrays in numpy: a dict of the Quote's fields."""
    from scipy.special import ndtr

    from simmodel.model import libm
    from simmodel.model.finance import LEASES

    def annuity_payment(principal, annual_rate, years):
        r = np.asarray(annual_rate, dtype=float) / 12.0
        n = 12 * years
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(r > 0, principal * r / (1.0 - libm.power(1.0 + r, -n)), principal / n)

    def pv_of_payments(rate, years, own_rate):
        r = own_rate / 12.0
        n = 12 * years
        return annuity_payment(1.0, rate, years) * ((1.0 - (1.0 + r) ** -n) / r if r > 0 else n)

    def partial_expectation(mean, sd):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sd > 0, mean / sd, np.sign(mean) * np.inf)
            density = libm.exp(-0.5 * np.minimum(z * z, 1e4)) / np.sqrt(2.0 * np.pi)
            return np.where(sd > 0, mean * ndtr(z) + sd * density, np.maximum(mean, 0.0))

    def scale_to_funds(need, funds):
        share = np.minimum(np.maximum(funds, 0.0) / np.maximum(need, 1e-9), 1.0)
        return np.where(share >= min_fraction, share, 0.0)

    bp, lp = bank.p, leasing.p

    def approval(loan, collateral, margin, employees):  # margin float32: approval_profit x margin in float32
        z = (bp.approval_intercept
             + bp.approval_collateral * libm.log(np.maximum(collateral, 1.0) / np.maximum(loan, 1.0))
             + bp.approval_profit * margin + bp.approval_size * libm.log(np.maximum(employees, 1.0)) - bank.tightening)
        return 1.0 / (1.0 + libm.exp(-np.minimum(np.maximum(z, -50), 50)))

    n = idx.size
    cash = np.maximum(f.cash[idx], 0.0)
    short = cash < need
    paying = 12.0 * (f.debt_payment[idx] + f.lease_payment[idx])
    profit = f.profit[idx]
    excluded = f.excluded_until[idx] > month
    va, margin, emp = f.value_added[idx], f.margin[idx], f.employed[idx]
    owed = f.debt[idx] + f.lease_liability[idx]
    want = np.maximum(need - cash, 0.0)
    # Bank.terms
    col = bp.collateral_to_value_added * np.maximum(va, 0.0)
    loan = np.minimum(want, np.maximum(bp.loan_to_collateral * col - owed, 0.0))
    p_bank = approval(loan + owed, col, margin, emp)
    bank_rate = bp.base_rate + bp.max_spread * (1.0 - p_bank)
    income = np.maximum(profit, 0.0) + benefit
    loan = np.where(income >= bp.min_coverage * (paying + 12.0 * annuity_payment(loan, bank_rate, bp.loan_years)),
                    loan, 0.0)
    bank_scale = scale_to_funds(need, cash + loan)
    can_bank = short & ~excluded & (loan > 0) & (bank_scale > 0) & bank.enabled
    p_bank = np.where(can_bank, p_bank, 0.0)
    loan = np.where(can_bank, loan, 0.0)
    bank_cost = np.minimum(cash, need) + loan * pv_of_payments(bank_rate, bp.loan_years, own_rate)
    pd = lp.pd_max * (1.0 - approval(need, col, margin, emp))  # the lessors' credit score
    sd = gain_sd * np.maximum(sector_mean, 0.0)
    shortfall = partial_expectation(1.0 - sector_mean, sd) - partial_expectation(-sector_mean, sd)
    offered = set(leasing.offered())
    q = dict(need=need, cash=cash, short=short, p_bank=p_bank, bank_rate=bank_rate, bank_loan=loan,
             bank_scale=bank_scale, bank_cost=bank_cost)
    for name, dtype in (("lease_ok", bool), ("lease_rate", float), ("lease_amount", float), ("lease_cost", float),
                        ("lease_cover", float)):
        q[name] = np.zeros((n, len(LEASES)), dtype)
    for j, m in enumerate(LEASES):
        rate = (lp.funding_rate + lp.margin + pd * (1.0 - leasing.recovery[m])
                + (1.0 - leasing.risk_share[m]) * shortfall / lp.lease_years)
        q["lease_rate"][:, j] = rate
        if m in offered:  # LeasingPartner.approve; margin float32: compared with min_margin in float32
            down = leasing.down[m] * need
            leased = need - down
            pay = paying + 12.0 * annuity_payment(leased, rate, lp.lease_years)
            income = benefit if m == LEASE_ENGINEERING else np.maximum(profit, 0.0) + benefit
            ok = (cash >= down) & ~excluded & (margin >= lp.min_margin) & (income >= leasing.min_coverage * pay)
            q["lease_ok"][:, j] = ok & short
            q["lease_amount"][:, j] = np.where(ok, leased, 0.0)
        amount = q["lease_amount"][:, j]
        q["lease_cost"][:, j] = need - amount + amount * pv_of_payments(rate, lp.lease_years, own_rate)
        q["lease_cover"][:, j] = (1.0 - leasing.risk_share[m]) * amount / np.maximum(need, 1e-9)
    q["scale"] = np.where(short, scale_to_funds(need, cash), 1.0)
    return q


def test_the_finance_quote_is_the_bank_and_lessors_rules_written_out_over_arrays_to_the_bit():
    """finance.quote runs the bank's and the lessors' rules firm by firm in one compiled pass (finance._quote_kernel,
    bank.loan_of, approval_of, lease_rate_of, lease_approval_of): every field of the Quote must be, to the bit,
    what the numpy code it replaced (_quote_as_it_was) gives, for firms put in states that take every branch:
    short of cash or not, excluded or not (and excluded until this very month: not excluded), with and without
    debts and leases, losses, margins at the lessors' minimum and one float32 step either side, cash at and around
    the down payments, with all three lease models on offer, one not yet on offer, and the bank's loans on and off.
    The minimum margin (0.02) is one float32 rounds down and the bank's weight of the margin (7.9) one float32
    multiplies otherwise than float64: margins are float32 and numpy takes a Python float with a float32 array in
    float32 (NEP 50), which the kernel must too."""
    import dataclasses

    from simmodel.params import month_index

    params = baseline_params().replace({**SMALL, "run.end": "2016-12", "leasing.min_margin": 0.02,
                                        "bank.approval_profit": 7.9})
    m = TransformationModel(seed=5, params=params)
    m.run()
    f, p = m.firms, m.params
    assert m.bank.enabled and m.bank.tightening > 0
    idx = f.alive.nonzero()[0]
    n, rng = idx.size, np.random.default_rng(2)
    need = rng.lognormal(13.0, 1.0, n)
    benefit = need * rng.uniform(0.0, 0.6, n)
    benefit[::13] = 0.0
    f.cash[idx] = need * rng.choice([-0.5, 0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 2.0], n)  # down payments
    f.value_added[idx] *= rng.lognormal(0.0, 1.0, n)
    f.profit[idx] = rng.normal(0.05, 0.2, n) * f.value_added[idx]
    f.debt[idx] = np.where(rng.random(n) < 0.3, rng.lognormal(13.0, 1.5, n), 0.0)
    f.debt_payment[idx] = annuity_payment(f.debt[idx], 0.06, 3)
    f.lease_liability[idx] = np.where(rng.random(n) < 0.15, rng.lognormal(13.0, 1.5, n), 0.0)
    f.lease_payment[idx] = annuity_payment(f.lease_liability[idx], 0.08, 5)
    f.excluded_until[idx] = rng.choice([0, m.month, m.month + 1, m.month + 36], n, p=[0.7, 0.1, 0.1, 0.1])
    at = np.float32(p["leasing.min_margin"])
    assert float(at) < p["leasing.min_margin"]  # float32 rounds it down: compared in float64, `at` would fail it
    f.margin[idx] = rng.uniform(-0.3, 0.3, n).astype(np.float32)
    edge = {"at": idx[0::7], "below": idx[1::7], "above": idx[2::7]}
    f.margin[edge["at"]] = at
    f.margin[edge["below"]] = np.nextafter(at, np.float32(-1.0))
    f.margin[edge["above"]] = np.nextafter(at, np.float32(1.0))
    p0 = 1.0 / p["beliefs.prior_sd"] ** 2
    cell_mean = (p["beliefs.prior_mean"] * p0 + f.cell_weighted) / (p0 + f.cell_precision)
    args = (cell_mean[f.cell[idx]], p["technology.gain_sd"], m.adoption.rate, p["decision.min_finance_fraction"])
    position = {k: np.isin(idx, v) for k, v in edge.items()}
    late, early = m.month, month_index("2015-06")
    for month, enabled in ((late, True), (late, False), (early, True)):
        m.month, m.bank.enabled = month, enabled
        assert len(m.leasing.offered()) == (3 if month == late else 2)
        q = m.adoption.quote(idx, need, benefit)
        want = _quote_as_it_was(f, idx, need, benefit, month, m.bank, m.leasing, *args)
        for field in dataclasses.fields(q):
            got, expected = getattr(q, field.name), want[field.name]
            assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), (month, enabled, field.name)
        # every branch taken
        excluded = f.excluded_until[idx] > month
        open_ = q.short & ~excluded
        assert q.short.any() and (~q.short).any() and (q.short & excluded).any()
        assert (open_ & (q.scale > 0) & (q.scale < 1)).any() and (open_ & (q.scale == 0)).any()
        assert np.all(q.scale[~q.short] == 1.0)
        if enabled:
            assert (q.p_bank > 0).any() and (open_ & (q.p_bank == 0)).any() and (q.bank_scale[q.p_bank > 0] < 1).any()
            assert not (q.p_bank[excluded] > 0).any() and (q.bank_loan[q.p_bank > 0] > 0).all()
        else:
            assert not q.p_bank.any() and not q.bank_loan.any()
        for j in range(3):
            if j < 2 or month == late:
                assert q.lease_ok[:, j].any() and (open_ & ~q.lease_ok[:, j]).any(), (month, j)
                # at the minimum margin a lessor may sign, one float32 step below it never does
                assert q.lease_ok[position["at"], j].any() and q.lease_ok[position["above"], j].any()
                assert not q.lease_ok[position["below"], j].any()
            else:
                assert not q.lease_ok[:, j].any() and not q.lease_amount[:, j].any()
        assert not q.lease_ok[excluded].any()


def _arrange_as_it_was(firms, idx, plan, q, month, leasing, draws):
    """finance.arrange as it was before the compiled signing rounds (a68a43d), written out over arrays in numpy: a
    dict of the Finance's fields (``leasing.volume_left`` falls as it did), and for each round and model that had
    candidates (rank, model's column, candidates, firms signed, the yuan they lease)."""
    from simmodel.model.allocation import random_order
    from simmodel.model.finance import LEASES
    from simmodel.model.firms import CASH, LEASE_ENGINEERING, LEASE_FUNDS, LOAN

    n = idx.size
    route = np.full(n, CASH, np.int8)
    borrowed, rate, scale = np.zeros(n), np.zeros(n), np.ones(n)
    applied = plan == LOAN
    refused = applied & (draws >= q.p_bank)
    lent = applied & ~refused
    route[lent], borrowed[lent], rate[lent] = LOAN, q.bank_loan[lent], q.bank_rate[lent]
    scale[lent] = q.bank_scale[lent]
    is_lease = (plan >= LEASE_FUNDS) & (plan <= LEASE_ENGINEERING)
    wants_lease = is_lease | refused
    done = (plan == CASH) | lent
    w = firms.weight[idx]
    order = random_order(firms.key[idx], "lease signing", month)
    cost = np.where(q.lease_ok, q.lease_cost, np.inf)
    planned = np.where(is_lease, plan.astype(np.int64) - LEASE_FUNDS, -1)
    cost[np.arange(n)[planned >= 0], planned[planned >= 0]] = -np.inf
    pref = np.argsort(cost, axis=1, kind="stable")
    waiting = wants_lease.copy()
    rounds = []
    for rank in range(len(LEASES)):
        if not waiting.any():
            break
        for j, m in enumerate(LEASES):
            k = order[waiting[order] & (pref[order, rank] == j) & q.lease_ok[order, j]]
            if k.size == 0:
                continue
            fits = (q.lease_amount[k, j] * w[k]).cumsum() <= leasing.volume_left[m]
            k_size = k.size
            k = k[fits]
            rounds.append((rank, j, k_size, k.size, q.lease_amount[k, j] * w[k]))
            leasing.volume_left[m] -= float((q.lease_amount[k, j] * w[k]).sum())
            route[k], borrowed[k], rate[k] = m, q.lease_amount[k, j], q.lease_rate[k, j]
            done[k] = True
            waiting[k] = False
    rest = ~done
    scale[rest] = q.scale[rest]
    return dict(scale=scale, route=route, borrowed=borrowed, rate=rate, applied=applied, refused=refused), rounds


def test_the_lease_signing_rounds_are_the_old_array_rules_to_the_bit():
    """finance.arrange signs leases in compiled rounds (finance._sign_leases: the running total in order, as numpy's
    cumsum, and each model's volume falling by econ.array_sum, numpy's pairwise sum): every field of the Finance and
    the three models' volumes left must be, to the bit, what the numpy code it replaced (_arrange_as_it_was) gives
    (and, since the whole of arrange became one compiled pass on 2026-12-05, its preferences: tied costs and NaN
    costs planted),
    from copies of the same volumes. Adopters of a run to December 2016, quotes for firms put in states that take
    every branch (as in the quote's test), paying cash, borrowing (approved and refused by their draws), leasing
    with each model, scaling down and giving up; volumes that bind for each model in some round (firms signed, firms
    turned away, some of them signing with a later preference), no volume at all, and volumes that never bind, where
    more than 128 firms sign with one model in one round (the pairwise sum halves its range) and every round's sum
    has eight terms or more (numpy's pairwise sum is not the sum in order)."""
    import copy
    import dataclasses
    from types import SimpleNamespace

    from simmodel.model import finance
    from simmodel.model.finance import LEASES, NO_FINANCE, SCALED
    from simmodel.model.firms import CASH, LOAN

    m = TransformationModel(seed=5, params=baseline_params().replace({**SMALL, "run.end": "2016-12"}))
    m.run()
    f = m.firms
    assert len(m.leasing.offered()) == 3
    idx = f.alive.nonzero()[0]
    n, rng = idx.size, np.random.default_rng(6)
    need = rng.lognormal(13.0, 1.0, n)
    benefit = need * rng.uniform(0.0, 0.6, n)
    f.cash[idx] = need * rng.choice([-0.5, 0.1, 0.2, 0.3, 0.5, 0.7, 2.0], n)
    f.value_added[idx] *= rng.lognormal(0.0, 1.0, n)
    f.profit[idx] = rng.normal(0.1, 0.2, n) * f.value_added[idx]
    f.margin[idx] = rng.uniform(-0.1, 0.3, n).astype(np.float32)
    f.excluded_until[idx] = np.where(rng.random(n) < 0.1, m.month + 12, 0)
    q = m.adoption.quote(idx, need, benefit)
    # preferences by cost as numpy's stable argsort orders them: tied costs in model order, a NaN cost last
    cost = q.lease_cost.copy()
    both = (q.lease_ok[:, 0] & q.lease_ok[:, 1]).nonzero()[0][::3]
    cost[both, 1] = cost[both, 0]
    nan = q.lease_ok[:, 0].nonzero()[0][1::7]
    cost[nan, 0] = np.nan
    q = dataclasses.replace(q, lease_cost=cost)
    assert both.size > 50 and nan.size > 50
    # each firm's plan, among those open to it (a lease plan only where the lessor would sign)
    open_ = np.column_stack([~q.short, q.p_bank > 0, *q.lease_ok.T, q.short & (q.scale > 0), q.short])
    plan = np.array([rng.choice(np.flatnonzero(o)) for o in open_])  # columns in the order of the plans' codes
    draws = rng.random(n)
    assert (q.short & open_[:, 1] & open_[:, 2] & open_[:, 3] & open_[:, 4]).sum() > 100
    for k in (slice(None), slice(0, n // 3)):  # all the adopters, and a third of them
        qk = dataclasses.replace(q, **{name: getattr(q, name)[k] for name in q.__dataclass_fields__})
        ample = dict.fromkeys(LEASES, 1e15)
        taken, _ = _arrange_as_it_was(f, idx[k], plan[k], qk, m.month, SimpleNamespace(volume_left=dict(ample)),
                                      draws[k])
        leased = {model: float((taken["borrowed"] * f.weight[idx[k]])[taken["route"] == model].sum())
                  for model in LEASES}  # what each model would sign without a limit
        binding = {model: share * leased[model] for model, share in zip(LEASES, (0.6, 0.4, 0.5))}
        for label, volume_left in (("binding", binding), ("none", dict.fromkeys(LEASES, 0.0)), ("ample", ample)):
            old, new = SimpleNamespace(volume_left=copy.deepcopy(volume_left)), copy.deepcopy(volume_left)
            m.leasing.volume_left = new
            got = finance.arrange(f, idx[k], plan[k], qk, m.month, m.leasing, draws[k])
            want, rounds = _arrange_as_it_was(f, idx[k], plan[k], qk, m.month, old, draws[k])
            for name, w in want.items():
                g = getattr(got, name)
                assert g.dtype == w.dtype and g.tobytes() == w.tobytes(), (label, k, name)
            for model in LEASES:
                assert np.float64(new[model]).tobytes() == np.float64(old.volume_left[model]).tobytes(), (label, model)
            # every branch taken
            pk = plan[k]
            for code in (CASH, LOAN, SCALED, NO_FINANCE, *LEASES):
                assert (pk == code).sum() > 10, code
            assert got.refused.any() and (got.applied & ~got.refused).any()
            signed = sum(r[3] for r in rounds)
            assert np.isin(got.route, LEASES).sum() == signed
            if label != "none":  # firms sign, firms the bank refused among them; the sum in order rounds otherwise
                assert (got.refused & np.isin(got.route, LEASES)).any()
                assert any(r[4].cumsum()[-1] != r[4].sum() for r in rounds if r[3])
            if label == "binding":
                for j in range(3):  # the limit binds for each model in some round; firms sign in a later round
                    assert any(r[1] == j and 0 < r[3] < r[2] for r in rounds), (k, j, rounds)
                assert any(r[0] > 0 and r[3] > 0 for r in rounds), rounds
                left_out = np.isin(pk, LEASES) & ~np.isin(got.route, LEASES)
                assert left_out.any() and (got.scale[left_out] > 0).any() and (got.scale[left_out] == 0).any()
            elif label == "none":
                assert signed == 0 and not np.isin(got.route, LEASES).any()
            else:
                assert all(r[2] == r[3] for r in rounds) and all(r[3] >= 8 for r in rounds if r[0] == 0)
                if k == slice(None):
                    assert max(r[3] for r in rounds) > 128, rounds


def _disburse_as_it_was(firms, idx, bank, leasing):
    """finance.disburse as it was before its compiled pass (bae5ca4), in numpy."""
    from simmodel.model.finance import LEASES, LOAN

    route, amount, rate = firms.proj_route[idx], firms.proj_borrowed[idx], firms.proj_rate[idx]
    w = firms.weight[idx]
    loan = (route == LOAN) & (amount > 0)
    if loan.any():
        i = idx[loan]
        firms.debt[i] += amount[loan]
        firms.debt_rate[i] = np.where(firms.debt[i] > 0, (firms.debt_rate[i] * (firms.debt[i] - amount[loan])
                                                         + rate[loan] * amount[loan]) / firms.debt[i], rate[loan])
        firms.debt_payment[i] = annuity_payment(firms.debt[i], firms.debt_rate[i], bank.p.loan_years)
        bank.loans_outstanding += float((amount[loan] * w[loan]).sum())
        bank.lent_total += float((amount[loan] * w[loan]).sum())
    for m in LEASES:
        k = (route == m) & (amount > 0)
        if not k.any():
            continue
        i = idx[k]
        old = firms.lease_liability[i]
        moved = (old > 0) & (firms.lease_model[i] != m)
        for prev in LEASES:
            p = moved & (firms.lease_model[i] == prev)
            if p.any():
                total = float((old[p] * w[k][p]).sum())
                leasing.book(prev, "repaid", total)
                leasing.book(m, "financed", total)
        firms.lease_liability[i] += amount[k]
        firms.lease_rate[i] = rate[k]
        firms.lease_model[i] = m
        firms.lease_payment[i] = annuity_payment(firms.lease_liability[i], rate[k], leasing.p.lease_years)
        leasing.book(m, "financed", float((amount[k] * w[k]).sum()))


@pytest.mark.parametrize("routes", ["all", "no loans", "one lease model"])
def test_loans_and_leases_begin_as_the_old_array_rules_had_them_to_the_bit(routes):
    """finance.disburse pays out loans and leases firm by firm in one compiled pass (_disburse_kernel) and keeps
    the lenders' books entry by entry; every firm's debt, blended rate and payment, lease liability, rate, model
    and payment, the bank's totals and each lease model's books must be, to the bit, what the numpy code it
    replaced gives: 1,500 firms starting in a shuffled order, with cash, loans and the three lease models (some
    with nothing borrowed), firms already in debt and firms carrying an older lease of another model (refinanced)
    or of the same one (added to)."""
    import copy

    from simmodel.model.finance import LEASES, disburse
    from simmodel.model.firms import CASH, LOAN

    m = TransformationModel(seed=2, scale=0.01)
    f, rng = m.firms, np.random.default_rng(12)
    idx = rng.permutation(f.n)[:1500]
    choices = {"all": [CASH, LOAN, *LEASES], "no loans": [CASH, *LEASES], "one lease model": [LOAN, LEASE_MATERIALS]}
    f.proj_route[idx] = rng.choice(choices[routes], idx.size)
    f.proj_borrowed[idx] = np.where(rng.random(idx.size) < 0.1, 0.0, rng.lognormal(13.0, 1.0, idx.size))
    f.proj_rate[idx] = rng.uniform(0.04, 0.12, idx.size)
    f.debt[:] = np.where(rng.random(f.n) < 0.3, rng.lognormal(12.0, 1.0, f.n), 0.0)
    f.debt_rate[:] = rng.uniform(0.04, 0.1, f.n)
    f.lease_liability[:] = np.where(rng.random(f.n) < 0.3, rng.lognormal(12.0, 1.0, f.n), 0.0)
    f.lease_model[:] = rng.choice(LEASES, f.n)
    for b in m.leasing.books.values():
        for k in b:
            b[k] = float(rng.lognormal(15.0, 1.0))
    m.bank.loans_outstanding, m.bank.lent_total = 3e9, 7e9
    old = copy.deepcopy(m)
    disburse(f, idx, m.bank, m.leasing)
    _disburse_as_it_was(old.firms, idx, old.bank, old.leasing)
    for name in ("debt", "debt_rate", "debt_payment", "lease_liability", "lease_rate", "lease_model", "lease_payment"):
        assert getattr(f, name).tobytes() == getattr(old.firms, name).tobytes(), name
    assert (m.bank.loans_outstanding, m.bank.lent_total) == (old.bank.loans_outstanding, old.bank.lent_total)
    assert m.leasing.books == old.leasing.books
    assert (m.bank.lent_total > 7e9) == (routes != "no loans")


def test_the_lessors_monthly_books_are_numpys_sums_by_lease_model_to_the_bit():
    """finance.service books each lease model's interest, balances and principal of the month as numpy sums them,
    (x[model == m] * weight[model == m]).sum() (pairwise), with a model's books left alone when no firm holds one
    of its leases; the compiled sums (finance._sums_by_model) must be those, to the bit, at sizes where pairwise and
    in-order sums differ."""
    from simmodel.model.finance import LEASES, _sums_by_model

    rng = np.random.default_rng(8)
    models = np.array(LEASES, np.int8)
    for n in (0, 5, 130, 1_000, 5_000):
        model = rng.choice(np.array([LEASES[0], LEASES[2]], np.int8), n)  # the second model: no firm
        w = rng.choice([1.0, 12.5, 40.0], n)
        cols = [rng.lognormal(8.0, 2.0, n) * rng.choice([1.0, 0.0], n, p=[0.9, 0.1]) for _ in range(3)]
        sums, count = _sums_by_model(model, w, tuple(cols), models)
        for j, m in enumerate(LEASES):
            k = model == m
            assert count[j] == k.sum()
            for c in range(3):
                assert sums[j, c].tobytes() == np.float64((cols[c][k] * w[k]).sum()).tobytes(), (n, m, c)
        assert n < 1_000 or any((cols[0][model == m] * w[model == m]).cumsum()[-1] != sums[j, 0]
                                for j, m in enumerate(LEASES) if (model == m).any())  # the order matters here


def test_a_lease_model_never_signs_more_than_its_yearly_volume(monkeypatch):
    """The two capped lease models, with volumes small enough to bind in 2015 at the baseline (0.5 bn yuan for
    'financing funds', the default 5 bn for 'financing materials'): the yuan each signs in a year (each signed
    firm's leased amount x the real firms it stands for), summed here from what every month's signing returned,
    stay within the volume, and come within 10 % of it, so the cap is what stops them (measured 100.0 % and
    99.7 % on seed 7, 2026-12-06; without its cap 'financing funds' signed 737 m yuan that year)."""
    from collections import defaultdict

    from simmodel.model import finance
    signed = defaultdict(float)
    arrange = finance.arrange

    def counted(firms, idx, plan, q, month, leasing, draws, at=None):
        fin = arrange(firms, idx, plan, q, month, leasing, draws, at=at)
        for model in (LEASE_FUNDS, LEASE_MATERIALS):
            k = fin.route == model
            signed[2013 + month // 12, model] += float((fin.borrowed[k] * firms.weight[idx[k]]).sum())
        return fin

    monkeypatch.setattr(finance, "arrange", counted)
    p = baseline_params().replace({"run.scale": 0.02, "run.end": "2015-12", "leasing.funds_volume": 5e8})
    TransformationModel(seed=7, params=p).run()
    volume = {LEASE_FUNDS: p["leasing.funds_volume"], LEASE_MATERIALS: p["leasing.materials_volume"]}
    for (year, model), yuan in signed.items():
        assert yuan <= volume[model], (year, model, yuan)
    for model, v in volume.items():
        assert signed[2015, model] > 0.9 * v, (model, signed[2015, model])


def test_lending_standards_tighten_by_the_past_years_default_rate_among_borrowers():
    """Bank.step: the tightening is tightening_per_default_rate x the year's default rate, the real firms that
    defaulted in the last 12 months (borrowers whose loan it wrote off: cash defaults, closures) over the mean number of
    borrowers in those months (docs/ODD.md 3.4.7). Thirteen months recorded by hand: the first month's 500
    defaults have left the window, and 12 months of 6 defaults among 1,000 to 1,220 borrowers (mean 1,110), with
    12 real firms closing owing the bank in one of them, give a rate of 84 / 1,110 (a tightening of 2.27 at the
    calibrated 30). A monthly rate would be a twelfth of it; rel 1e-12: the same sums in another order."""
    m = TransformationModel(seed=1, scale=0.005)
    b = m.bank
    b.wrote_off(500.0)
    b.record_month(borrowers=1000.0)
    borrowers = 1000.0 + 20.0 * np.arange(12)
    for k in range(12):
        if k == 5:
            b.wrote_off(12.0)
        b.wrote_off(6.0)
        b.record_month(borrowers=float(borrowers[k]))
    b.step()
    per_rate = m.params["bank.tightening_per_default_rate"]
    assert b.tightening == pytest.approx(per_rate * (12 * 6.0 + 12.0) / 1110.0, rel=1e-12)
    assert per_rate == 30.0 and b.tightening == pytest.approx(2.27, abs=0.005)

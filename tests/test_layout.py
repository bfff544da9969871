"""Nothing scarce is allocated in array order: the same firms in another layout of the arrays get the
same diagnoses, subsidies and leases by size class and city, and the instruments contribute the same.

The population is drawn stratum by stratum (above-size firms first, then by city and sector), so
any rule that serves firms "in index order" favours above-size firms and the first cities. Here the
arrays are reversed or shuffled (``run.layout``; the firms, their keys and their draws of January
2013 are the same).

The allocation rules are checked exactly: with the model's per-position streams (the monthly
decision and cloud draws, the expert groups' visits) replaced by draws keyed by firm, a run in any
layout must be the same run, firm by firm. A statistical comparison of layouts over a few seeds
cannot do this: with four seeds a side the standard errors are themselves noisy (Student t with
3-6 degrees of freedom, not normal), so K = 4 over ~90 comparisons raised a false alarm in about
half of all runs (strata against strata on other seeds: 13 of 28). The instruments' contributions
are still compared statistically, against the spread between seeds.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from simmodel.analysis.scenarios import load
from simmodel.model.allocation import event_id, tie_break
from simmodel.model.indicators import FLOWS
from simmodel.model.institutions.services import sector_draws
from simmodel.model.model import TransformationModel
from simmodel.runs.runner import simulate

SEEDS = (1, 2, 3, 4)
SCALE = 0.03
K = 4.0  # standard errors: four seeds per layout; K = 4 leaves one false alarm in ~15,000 comparisons
LAYOUTS = ("reversed", "shuffled")


@functools.lru_cache(maxsize=64)
def outcomes(scenario: str, layout: str, seed: int) -> dict[str, np.ndarray]:
    m = simulate(load(scenario).params.replace({"run.scale": SCALE, "run.layout": layout}), seed)
    r, f = m.recorder, m.firms
    flows = r.flows[: r.months_done].sum(axis=0).reshape(len(FLOWS), r.n_cities, r.n_sectors, 2)
    out = {"stage_1plus": np.array(float(np.sum(f.weight * (f.stage >= 1))))}
    for name in ("diagnoses", "subsidy_robots", "subsidy_awards", "subsidy_vouchers", "leases_funds",
                 "leases_materials", "loans_issued"):
        x = flows[FLOWS.index(name)]
        total = max(x.sum(), 1e-9)
        out[name] = np.array(x.sum())
        out[name + "_above_share"] = np.array(x[:, :, 1].sum() / total)
        out[name + "_city_shares"] = x.sum(axis=(1, 2)) / total
    m.release()
    return out


def _compare(a: list[dict], b: list[dict], keys) -> list[str]:
    """Keys (and city indices) whose means differ by more than K standard errors of the difference."""
    bad = []
    for key in keys:
        xa, xb = np.array([o[key] for o in a]), np.array([o[key] for o in b])
        diff = xa.mean(axis=0) - xb.mean(axis=0)
        se = np.sqrt((xa.var(axis=0, ddof=1) + xb.var(axis=0, ddof=1)) / len(SEEDS))
        # a floor for quantities the seeds barely move (a fixed budget fully spent): 1 % of the level, and 1 (a yuan,
        # a firm) where the level is 0: two runs that spend the same budget in full differ by rounding (the fund's
        # awards, baseline against no_conferences: 2.4e-7 and -3.0e-7 yuan on the two layouts)
        se = np.maximum(se, np.maximum(0.01 * np.abs(xa.mean(axis=0)), 1.0) / K)
        for i in np.flatnonzero(np.atleast_1d(np.abs(diff) > K * se)):
            bad.append(f"{key}[{i}]: {np.atleast_1d(xa.mean(axis=0))[i]:.4g} vs {np.atleast_1d(xb.mean(axis=0))[i]:.4g}")
    return bad


class _KeyedStream:
    """Stands in for a Generator whose only call is ``random(n_firms)``: each firm's draw from its key."""

    def __init__(self, model, name: str):
        self.model, self.name, self.calls = model, name, 0

    def random(self, size=None, dtype=np.float64):
        keys = self.model.firms.key
        assert size == keys.size, f"{self.name}: a draw of {size}, not one per firm"
        self.calls += 1
        return tie_break(keys, event_id(self.name, self.calls)).astype(dtype)


def _keyed_run(layout: str, seed: int) -> TransformationModel:
    """A baseline run whose per-position draws are keyed by firm (nothing random then sits in the arrays)."""
    m = TransformationModel(seed=seed, params=load("baseline").params.replace({"run.scale": SCALE,
                                                                                 "run.layout": layout}),
                            collect_headline=False)
    m.rngs["decisions"] = _KeyedStream(m, "decisions")
    m.cloud.rng = _KeyedStream(m, "cloud")
    f = m.firms  # the expert groups' random visits index the sector's members: list them in key order
    by_key = np.argsort(f.key, kind="stable")
    d = sector_draws(f.sector[by_key], f.weight[by_key], m.tables.n_sectors)
    m.sector_draws = d._replace(members=by_key[d.members])
    m.run()
    return m


@pytest.mark.parametrize("layout", LAYOUTS)
def test_with_draws_keyed_by_firm_the_layout_changes_nothing(layout):
    a, b = _keyed_run("strata", 3), _keyed_run(layout, 3)
    ra, rb = a.recorder, b.recorder
    # every flow (diagnoses, subsidies, leases, loans, ...) by city, sector and size class, month by month. Not to the
    # bit: np.bincount sums in array order, so the flows by cell and the city labour pools (each hiring firm's
    # share of them, from January 2014) take other last bits in another layout, and these reach firms' money.
    # Measured on seed 3: stages, phases, lease models, cloud and diagnoses identical; flows within 6.2e-13
    # relative (1.9e-6 yuan), cash within 3.2e-13; rtol 1e-9 is far above that (atol is not needed)
    np.testing.assert_allclose(ra.flows[: ra.months_done], rb.flows[: rb.months_done], rtol=1e-9, atol=1e-6)
    fa, fb = a.firms, b.firms
    oa, ob = np.argsort(fa.key), np.argsort(fb.key)
    for name in ("stage", "proj_phase", "lease_model", "cash", "debt", "lease_liability", "on_cloud", "voucher_used",
                 "diagnosed"):
        np.testing.assert_allclose(getattr(fa, name)[oa], getattr(fb, name)[ob], rtol=1e-9, atol=1e-6,
                                   err_msg=name)
    a.release()
    b.release()


@pytest.mark.parametrize("scenario", ["no_conferences", "no_fund"])
def test_instrument_contributions_do_not_depend_on_the_layout(scenario):
    def contributions(layout):
        return [{k: outcomes("baseline", layout, s)[k] - outcomes(scenario, layout, s)[k]
                 for k in ("stage_1plus", "diagnoses", "subsidy_awards")} for s in SEEDS]

    a, b = contributions("strata"), contributions("shuffled")
    assert not _compare(a, b, a[0].keys())


def test_the_layout_changes_the_arrays_not_the_firms():
    from simmodel.model.model import TransformationModel

    ms = {lay: TransformationModel.from_scenario("baseline", seed=3, scale=SCALE, layout=lay)
          for lay in ("strata", "reversed")}
    a, b = ms["strata"].firms, ms["reversed"].firms
    assert not np.array_equal(a.above, b.above)
    order = np.argsort(a.key)
    back = np.argsort(b.key)
    for name in ("above", "city", "sector", "employees", "cash", "stage"):
        x = getattr(a, name) if name != "employees" else a.employed
        y = getattr(b, name) if name != "employees" else b.employed
        assert np.array_equal(x[order], y[back]), name

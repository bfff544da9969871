"""The firm population: one numpy array per state variable, and the production submodel.

Firms are not Python objects (ARCHITECTURE.md: a province is ~560,000 manufacturers). Every
state variable is an array indexed by firm; :meth:`Firms.view` returns one firm as a
read-only object for inspection. Each agent stands for ``weight`` real firms.

Production (docs/ODD.md, submodel "Production, labour and accounts"):
  capacity output Y (value added at full staffing, yuan/yr) grows with demand;
  labour productivity p (yuan/worker/yr) grows with the exogenous trend and each project;
  labour needs N = Y / p; employees E = min(N, E_max), E_max being what the firm can recruit;
  value added = p * E; profit = (1 - other_cost_share) * p * E - wage * E - interest, the wage being
  the all-units average for above-size firms and the private-unit average for the others.
A project with gain g raises p by (1 + g), Y by (1 + g)^(1 - lambda) and so cuts needs by
(1 + g)^(-lambda), lambda being the sector's labour-saving share of gains.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numba import njit

from .econ import fmax, fmin

# project phases
NONE, APPROVAL, QUEUED, IMPLEMENTING = 0, 1, 2, 3
PHASES = ("none", "approval", "queued", "implementing")
# finance routes (leasing models arrive with the bank submodel)
CASH, LOAN, LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING = 0, 1, 2, 3, 4
ROUTES = ("cash", "loan", "lease_funds", "lease_materials", "lease_engineering")
N_STAGES = 5  # 0 mechanized/manual .. 4 intelligent


@dataclass
class Firms:
    """State of all firm agents (arrays of length n)."""

    # fixed attributes
    city: np.ndarray  # int, index into Tables.cities
    sector: np.ndarray  # int, index into Tables.sectors
    cell: np.ndarray  # int, city * n_sectors + sector
    above: np.ndarray  # bool, above designated size (fixed membership)
    weight: np.ndarray  # real firms this agent stands for
    hightech: np.ndarray  # bool, counted in the high-tech aggregate
    emerging: np.ndarray  # bool, counted in the strategic-emerging aggregate
    staff_quality: np.ndarray  # 0-1
    key: np.ndarray  # uint64, the firm's fixed random key: fresh tie-breaks per allocation (allocation.py)
    alive: np.ndarray  # bool: operating. A firm that closes is replaced by an entrant in the same January step
    # (dynamics.py), so every agent operates in every recorded month; the submodels' filters on it would keep a slot
    # left empty out of every decision and count
    gain_z: np.ndarray  # (n, 4) standard normal draw of the realised gain of each stage
    z_known: np.ndarray  # (n, 4) float32: what the firm expects of its own z (beliefs.own_knowledge, diagnoses)
    z_var: np.ndarray  # (n, 4) float32: the variance of its own z it does not know
    # production
    output: np.ndarray  # Y, value added at full staffing, yuan/yr
    productivity: np.ndarray  # p, yuan/worker/yr
    workforce_cap: np.ndarray  # E_max, workers the firm can recruit
    wage: np.ndarray  # yuan/worker/yr: all-units wage above size, private-unit wage below
    # accounts
    cash: np.ndarray  # yuan
    debt: np.ndarray  # yuan, bank loans outstanding
    debt_rate: np.ndarray  # 1/yr
    debt_payment: np.ndarray  # yuan/month
    lease_liability: np.ndarray  # yuan, leases outstanding
    lease_rate: np.ndarray  # 1/yr
    lease_payment: np.ndarray  # yuan/month
    lease_model: np.ndarray  # finance route of the lease (LEASE_*), 0 if none
    lease_gain: np.ndarray  # log productivity gain the lessor's equipment brings (lost if it is taken back)
    excluded_until: np.ndarray  # month before which a defaulter gets no credit
    employed: np.ndarray  # workers, this month
    has_gap: np.ndarray  # bool: labour needs not filled this month
    value_added: np.ndarray  # yuan/yr, this month's rate
    profit: np.ndarray  # yuan/yr, this month's rate
    va_year: np.ndarray  # yuan: value added so far this calendar year (firm dynamics)
    va_last_year: np.ndarray  # yuan: value added of the last calendar year, 0 for a firm that did not operate all of it
    profit_year: np.ndarray  # yuan: profit after interest so far this calendar year (firm dynamics)
    loss_years: np.ndarray  # int8: calendar years in a row closed with a loss (firm dynamics)
    # technology
    stage: np.ndarray  # int 0-4
    combo: np.ndarray  # cell x 5 + stage: key of the decision's per-(cell, stage) tables
    stock_key: np.ndarray  # key of the recorder's cube (see Firms.update_keys)
    robots: np.ndarray  # robots installed
    workers_saved: np.ndarray  # workers substituted by projects (labour cost saved = x wage)
    on_cloud: np.ndarray  # bool
    voucher_used: np.ndarray  # bool: has had the cloud action's voucher (once per firm: cloud.py)
    pilot: np.ndarray  # bool
    diagnosed: np.ndarray  # bool: had an expert diagnosis
    # beliefs about the mean gain of a stage, as a multiple of its nominal gain (beliefs.py): private
    # evidence (precision and precision-weighted sum, beyond the prior) per firm, public per cell
    belief_precision: np.ndarray
    belief_weighted: np.ndarray
    cell_precision: np.ndarray  # (n_cells,)
    cell_weighted: np.ndarray  # (n_cells,)
    informed: np.ndarray  # bool: has private evidence beyond the prior
    exposure: np.ndarray  # 0-1, conference / pilot / expert exposure, decaying (float32)
    margin: np.ndarray  # profit / value added, this month (float32: it only enters the logits)
    # the current project
    proj_phase: np.ndarray  # NONE / APPROVAL / QUEUED / IMPLEMENTING
    proj_target: np.ndarray  # target stage
    proj_months: np.ndarray  # months left in the current phase
    proj_provider: np.ndarray  # the first of the providers implementing it (ProviderMarket's ledger), -1 if none
    proj_capex: np.ndarray  # capital cost, yuan (after scaling)
    proj_robots: np.ndarray  # robots the project plans to install (machine substitution), per firm
    proj_fee: np.ndarray  # provider fee, yuan
    proj_scale: np.ndarray  # share of the full project carried out (finance)
    proj_route: np.ndarray  # finance route
    proj_borrowed: np.ndarray  # yuan financed by a loan or lease
    proj_rate: np.ndarray  # 1/yr of that loan or lease
    proj_since: np.ndarray  # month the current phase began
    proj_pilot: np.ndarray  # bool: the current project is a pilot's pilot project (first in the providers' queue)
    cooldown_until: np.ndarray  # month before which no new project is considered
    level: np.float64 = np.float64(1.0)  # productivity level of January 2013 (yuan/worker/yr per unit of relative productivity)

    @property
    def n(self) -> int:
        return len(self.city)

    @property
    def needs(self) -> np.ndarray:
        """Labour needs N = Y / p (workers)."""
        return self.output / self.productivity

    @property
    def employees(self) -> np.ndarray:
        """Workers employed: needs, unless recruitment caps them (:func:`workers`)."""
        return employment(self, np.arange(self.n))

    @property
    def labour_gap(self) -> np.ndarray:
        """Unfilled share of labour needs, 0-1."""
        return np.maximum(0.0, 1.0 - self.workforce_cap * self.productivity / self.output)

    def permute(self, order: np.ndarray) -> None:
        """Reorder every per-firm array by ``order`` (the same firms in another layout)."""
        n = self.n
        for f in fields(self):
            if f.name in ("cell_precision", "cell_weighted"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.shape[:1] == (n,):
                setattr(self, f.name, value[order])

    def update_keys(self, idx=slice(None)) -> None:
        """Refresh the keys that depend on stage and cloud status (after either changes).

        stock_key = city x sector x size x stage x cloud x high-tech x emerging (indicators.Recorder).
        """
        rows = np.arange(self.n) if isinstance(idx, slice) else idx
        _update_keys(rows, self.cell, self.above, self.stage, self.on_cloud, self.hightech, self.emerging, self.combo,
                     self.stock_key)

    def view(self, i: int, planned_gain_ratio: float = float("nan")) -> FirmView:
        """Firm ``i`` as a read-only object (values copied out of the arrays)."""
        vals = {"index": int(i), "planned_gain_ratio": planned_gain_ratio}
        for f in fields(FirmView)[1:-1]:
            vals[f.name] = getattr(self, f.name)[i].item()
        return FirmView(**vals)


@njit(cache=True, nogil=True)
def _update_keys(rows, cell, above, stage, on_cloud, hightech, emerging, combo, stock_key):
    """Firms.update_keys at ``rows``, firm by firm (one call where numpy took a dozen on a few firms)."""
    for i in rows:
        combo[i] = cell[i] * 5 + stage[i]
        key = ((cell[i] * 2 + above[i]) * 5 + stage[i]) * 2 + on_cloud[i]
        stock_key[i] = (key * 2 + hightech[i]) * 2 + emerging[i]


@dataclass(frozen=True)
class FirmView:
    """One firm, read-only. Units as in :class:`Firms`."""

    index: int
    city: int
    sector: int
    above: bool
    weight: float
    stage: int
    employees: float
    needs: float
    labour_gap: float
    productivity: float
    value_added: float
    profit: float
    cash: float
    debt: float
    lease_liability: float
    robots: float
    on_cloud: bool
    voucher_used: bool
    pilot: bool
    alive: bool
    exposure: float
    proj_phase: int
    proj_target: int
    proj_months: int
    proj_provider: int
    planned_gain_ratio: float  # the risk-adjusted gain ratio it plans its next project with


# --- submodel: production, labour and accounts ---------------------------------------------------


@njit(inline="always", error_model="numpy")
def workers(output, productivity, workforce_cap):
    """The employment rule, one firm: its labour needs Y / p, unless recruitment caps them at E_max
    (np.minimum's bits: a NaN is kept)."""
    return fmin(output / productivity, workforce_cap)


def monthly_growth(demand_growth: float, productivity_trend: float, labour_supply_growth: float) -> tuple:
    """A month's growth factors of capacity output, productivity and recruitable workforce (annual rates)."""
    return ((1.0 + demand_growth) ** (1 / 12), (1.0 + productivity_trend) ** (1 / 12),
            (1.0 + labour_supply_growth) ** (1 / 12))


def size_wages(above: np.ndarray, wage_all: float, wage_private: float) -> np.ndarray:
    """A year's wage of each firm: the all-units average above size, the private-unit average below."""
    return np.where(above, wage_all, wage_private)


def set_wages(firms: Firms, wage_all: float, wage_private: float) -> None:
    """The year's wages (:func:`size_wages`)."""
    firms.wage = size_wages(firms.above, wage_all, wage_private)


def produce(firms: Firms, other_cost_share: float, growth: tuple = (1.0, 1.0, 1.0)) -> None:
    """The month's exogenous growth (:func:`monthly_growth`, none by default), then its employment, value added,
    profit before interest (yuan/yr rates) and margin, in place, in one pass over the firms."""
    f = firms
    _produce(f.output, f.productivity, f.workforce_cap, f.wage, *growth, 1.0 - other_cost_share,
             f.employed, f.has_gap, f.value_added, f.profit, f.margin)


@njit(cache=True, nogil=True, error_model="numpy")
def _produce(output, productivity, workforce_cap, wage, grow_output, grow_productivity, grow_workforce, kept,
             employed, has_gap, value_added, profit, margin):
    """produce firm by firm: E = min(Y / p, E_max), the gap flag where E_max < Y / p, value added p E, profit
    (p x kept share - wage) x E, margin profit / value added (float32) within [-1, 1]."""
    for i in range(output.size):
        y = output[i] * grow_output
        p = productivity[i] * grow_productivity
        cap = workforce_cap[i] * grow_workforce
        output[i], productivity[i], workforce_cap[i] = y, p, cap
        has_gap[i] = cap < y / p  # labour needs above the cap
        e = workers(y, p, cap)
        employed[i] = e
        va = p * e
        value_added[i] = va
        pi = (p * kept - wage[i]) * e
        profit[i] = pi
        m = np.float32(pi / va)  # va > 0: productivity, employment positive
        margin[i] = fmin(fmax(m, np.float32(-1.0)), np.float32(1.0))  # np.clip


def book_cash(firms: Firms, retained_share: float, year_sums: bool = False) -> None:
    """A month of profit (after interest) into cash: losses in full, a share of gains retained (the rest paid
    out); with ``year_sums``, the month's value added and profit also into the year's sums (firm dynamics)."""
    f = firms
    _book_cash(f.profit, f.value_added, f.cash, 1.0 - retained_share, year_sums, f.va_year, f.profit_year)


@njit(cache=True, nogil=True, error_model="numpy")
def _book_cash(profit, value_added, cash, paid_out, year_sums, va_year, profit_year):
    """book_cash firm by firm: cash += profit / 12 less the paid-out share of a positive month."""
    for i in range(profit.size):
        month = profit[i] * (1.0 / 12.0)
        c = cash[i] + month
        cash[i] = c - fmax(month, 0.0) * paid_out
        if year_sums:
            va_year[i] += value_added[i] / 12.0
            profit_year[i] += profit[i] / 12.0


def employment(firms: Firms, idx: np.ndarray) -> np.ndarray:
    """Workers firms ``idx`` employ at their current needs and recruitment cap (:func:`workers`)."""
    out = np.empty(len(idx))
    _employment(np.asarray(idx, np.int64), firms.output, firms.productivity, firms.workforce_cap, out)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _employment(idx, output, productivity, workforce_cap, out):
    for j in range(idx.size):
        i = idx[j]
        out[j] = workers(output[i], productivity[i], workforce_cap[i])


def apply_gain(firms: Firms, idx: np.ndarray, gain: np.ndarray, labour_saving: np.ndarray) -> np.ndarray:
    """Raise productivity of firms ``idx`` (distinct) by ``gain``, their output by (1 + gain)^(1 - labour_saving)
    (per firm); returns workers no longer needed (>= 0)."""
    saved = np.empty(idx.size)
    _apply_gain(np.asarray(idx, np.int64), _per_firm(gain, idx.shape), _per_firm(labour_saving, idx.shape),
                firms.output, firms.productivity, saved)
    return saved


def _per_firm(a, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` (a number or an array that broadcasts to ``shape``) as float64 of that shape; an array already of it
    as it is (np.broadcast_to costs a few us even then, more than the kernel for a month's completions)."""
    a = np.asarray(a, np.float64)
    return a if a.shape == shape else np.full(shape, a)


@njit(cache=True, nogil=True, error_model="numpy")
def _apply_gain(idx, gain, labour_saving, output, productivity, saved):
    """apply_gain firm by firm."""
    for j in range(idx.size):
        saved[j] = _gain_of(idx[j], gain[j], labour_saving[j], output, productivity)


@njit(inline="always", error_model="numpy")
def _gain_of(i, gain, labour_saving, output, productivity):
    """Firm ``i``'s gain (apply_gain's rule) in place; returns its workers no longer needed: numpy's operations in
    numpy's order (the power is the C library's, as libm.power)."""
    before = output[i] / productivity[i]
    factor = 1.0 + gain
    productivity[i] *= factor
    output[i] *= factor ** (1.0 - labour_saving)
    v = before - output[i] / productivity[i]
    return v if not v < 0.0 else 0.0  # np.maximum(v, 0.0), NaN kept


def complete_gain(firms: Firms, idx: np.ndarray, gain: np.ndarray, labour_saving: np.ndarray,
                  robots_per_worker: float) -> np.ndarray:
    """Completed projects' gains on firms ``idx`` (distinct; ``labour_saving`` per sector): productivity and output
    raised as :func:`apply_gain` does; a project climbing from stage 0 (machine substitution) installs
    ``robots_per_worker`` robots a worker no longer needed; the workers released are the fall in employment
    (:func:`workers`: a gap absorbs part of the saving), added to ``workers_saved``. Returns them."""
    f = firms
    released = np.empty(idx.size)
    _complete_gain(np.asarray(idx, np.int64), _per_firm(gain, idx.shape), labour_saving, float(robots_per_worker),
                   f.sector, f.stage, f.proj_target, f.output, f.productivity, f.workforce_cap, f.robots, f.workers_saved, released)
    return released


@njit(cache=True, nogil=True, error_model="numpy")
def _complete_gain(idx, gain, labour_saving, robots_per_worker, sector, stage, target, output, productivity,
                   workforce_cap, robots, workers_saved, released):
    """complete_gain firm by firm."""
    for j in range(idx.size):
        i = idx[j]
        before = workers(output[i], productivity[i], workforce_cap[i])
        saved = _gain_of(i, gain[j], labour_saving[sector[i]], output, productivity)
        robots[i] += saved * robots_per_worker if stage[i] < 1 and target[i] >= 1 else 0.0
        r = fmax(before - workers(output[i], productivity[i], workforce_cap[i]), 0.0)
        workers_saved[i] += r
        released[j] = r

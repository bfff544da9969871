"""The recorder: monthly cubes of one run, and the indicators computed from them (indicators.py).

Each month the recorder reduces the firm arrays to a small weighted cube (city x sector x
above-size x stage x on-cloud) of a few stock quantities, plus the month's flows (projects
completed, investment, subsidies, ...) by city x sector x above-size and a few province-wide
scalars (fund, providers). Every indicator is a formula over those cubes, so yearly values are
computed from yearly sums (never by averaging monthly ratios), and the cost per month is a handful
of bincounts however many firms there are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..params import month_label
from .firms import QUEUED
from .indicators import ABOVE, FLOWS, INDICATORS, LEVELS, N_CLOUD, N_SIZE, SCALARS, STOCKS, indicator
from .stages import N_STAGES

class _FlowIndex(dict):
    """Each flow's row in the month's flows; an unknown name is an error naming it."""

    def __missing__(self, name):
        raise KeyError(f"unknown flow {name!r}: declare it in indicators.FLOWS")


_FLOW_INDEX = _FlowIndex((name, i) for i, name in enumerate(FLOWS))


class Recorder:
    """Collects the monthly cubes of one run (preallocated for ``n_months``).

    The stock cube's key is city x sector x size x stage x cloud x high-tech x emerging; the last
    two are summed out when stored (into the value added of high-tech and emerging firms).
    """

    def __init__(self, n_months: int, tables, size_weights: tuple[float, float], other_investment_share: float):
        self.n_months, self.n_cities, self.n_sectors = n_months, tables.n_cities, tables.n_sectors
        self.cities, self.sectors, self.equipment = tables.cities, tables.sectors, tables.sector_equipment
        self.other_investment_share = other_investment_share
        n_cities, n_sectors = self.n_cities, self.n_sectors
        self.k_flow = n_cities * n_sectors * N_SIZE
        self.k_stock = self.k_flow * N_STAGES * N_CLOUD
        self.size_weights = np.asarray(size_weights)
        self.weights_differ = bool(np.ptp(self.size_weights) > 0)  # firms crossing the threshold take their weight
        self.stocks = np.zeros((n_months, len(STOCKS), self.k_stock))
        self.flows = np.zeros((n_months, len(FLOWS), self.k_flow))
        self.scalars = np.zeros((n_months, len(SCALARS)))
        self.months_done = 0
        self.collections = 0  # months collected so far, again or not (tells what was summed before from new sums)
        self._group_sums: tuple = (None, {})  # (key, {level: sums}) of the last _group_sums
        self._written = np.zeros(n_months, np.bool_)  # months collected (a month collected again starts from 0)
        self.month_flows = self._next_flows(0)
        self._sums = np.zeros((len(FLOWS), self.k_flow))  # a call's sums of flows before they are added (kept zero)
        # each stock cell's agent weight (size is the key's 3rd dimension; 4 = the two flags)
        self._cell_weights = np.tile(np.repeat(self.size_weights, self.k_stock // self.k_flow * 4),
                                     self.k_flow // N_SIZE)
        self._ones = np.ones(self.k_stock * 4)
        # the month's sums before the flags are folded, by cell, row and flag slot (a cell's sums side by side):
        # zero outside the cells the month's firms occupy (kept zero between months, so a month costs its firms and
        # its occupied cells, not every cell of every stock)
        self._scratch = np.zeros((self.k_stock, len(STOCKS) + 1, 4))
        self._cells = np.empty(self.k_stock, np.int64)  # the occupied cells

    def _next_flows(self, t: int) -> np.ndarray:
        """Where month ``t``'s flows add up: its row of ``flows`` (still zero), so collecting it copies nothing."""
        if t < self.n_months and not self._written[t]:
            return self.flows[t]
        return np.zeros((len(FLOWS), self.k_flow))

    def add_flow(self, name: str, flow_key: np.ndarray, amounts: np.ndarray) -> None:
        """Add real-firm amounts (already times weight) of flow ``name`` at ``flow_key``."""
        row = self.month_flows[_FLOW_INDEX[name]]
        if flow_key.size:
            row += np.bincount(flow_key, weights=amounts, minlength=self.k_flow)

    def add_firm_flow(self, name: str, idx: np.ndarray, flow_key: np.ndarray, weight: np.ndarray,
                      amounts: np.ndarray | None = None) -> None:
        """:meth:`add_flow` of firms ``idx`` (``flow_key`` and ``weight``: every firm's): real firms, or yuan per
        firm (``amounts``, aligned with idx) x weight, in one compiled pass with add_flow's bits."""
        row = _FLOW_INDEX[name]
        if idx.size:
            _add_firm_flow(idx, flow_key, weight, _NO_AMOUNTS if amounts is None else amounts, amounts is not None,
                           self.month_flows, row, self._sums)

    def add_binned_flow(self, names: tuple[str, ...], bins: np.ndarray, flow_key: np.ndarray,
                        amounts: np.ndarray) -> None:
        """Add real-firm amounts to flow ``names[bins]`` (a bin of -1: to none) in one compiled pass: each flow's
        cells add its firms in order, as one :meth:`add_flow` per name would."""
        rows = _rows_of(names)
        if flow_key.size:
            _add_binned(bins, flow_key, amounts, rows, self.month_flows, self._sums)

    def collect(self, t: int, stock_key: np.ndarray, quantities: dict[str, np.ndarray],
                scalars: dict[str, float], renewal_share: float = 0.0, weights: np.ndarray | None = None) -> None:
        """Store month ``t``: stock quantities (unweighted, per agent, or sparse as (indices, values)) at
        ``stock_key``, flows and scalars; ``renewal_share`` (of value added, a year) books routine
        renewal investment.

        ``stock_key`` extends the stock cube's key by two flags (high-tech, emerging) in its last
        places; agent weights are applied per size class after summing, or per agent (``weights``)
        once firms have crossed the size threshold (dynamics.py) and weights differ within a class.
        """
        if not _SCALAR_SET.issuperset(scalars):
            raise KeyError(f"unknown scalar {sorted(set(scalars) - _SCALAR_SET)}: declare it in indicators.SCALARS")
        # uniform within a size class: weigh the sums (x 1.0 changes no bit when weighed per agent)
        w = self._cell_weights if weights is None else self._ones
        plan = _plan(tuple([(n, "sparse" if isinstance(q, tuple) else getattr(q, "dtype", None))
                            for n, q in quantities.items()]))
        scratch = self._scratch
        first, second = [tuple([quantities[n] for n in names]) for names in plan.groups]
        _cube_sums(stock_key, weights, first or (np.zeros(stock_key.size),), second or _NO_FLAGS, len(second),
                   plan.second, scratch)
        for name, row in plan.sparse:  # (firm indices, values), at cells the count shows occupied
            q = quantities[name]
            _sparse_sums(np.asarray(q[0], np.int64), np.asarray(q[1], np.float64), weights, stock_key, scratch, row)
        if self._written[t]:
            self.stocks[t] = 0.0
        cells = self._cells[:_occupied(scratch, plan.count, self._cells)]  # every firm adds to the count (weights > 0)
        _fold_cells(scratch, plan.src, plan.dst, cells, w, _VA if "va" in quantities else -1, _VA_HIGHTECH,
                    _VA_EMERGING, plan.used, self.stocks[t])
        # routine renewal investment this month: the month's renewal share of value added
        va = self.stocks[t, _VA].reshape(self.k_flow, -1).sum(axis=1)
        self.month_flows[_FLOW_INDEX["renewal_investment"]] += va * renewal_share / 12.0
        # labour cost saved this month: workers substituted x the month's wage of their size class
        saved = self.stocks[t, STOCKS.index("workers_saved")].reshape(self.k_flow, -1).sum(axis=1)
        wage = np.array([scalars.get("wage_private", 0.0), scalars.get("wage_all", 0.0)])  # by size (last in the key)
        self.month_flows[_FLOW_INDEX["labour_cost_saved"]] += (saved.reshape(-1, N_SIZE) * wage).ravel() / 12.0
        if not np.may_share_memory(self.month_flows, self.flows[t]):  # (a copied recorder's, or out of order)
            self.flows[t] = self.month_flows
            if np.may_share_memory(self.month_flows, self.flows):  # another month's row: leave it as it was, zero
                self.month_flows[:] = 0.0
        self.scalars[t] = [scalars.get(k, 0.0) for k in SCALARS]
        self._written[t] = True
        self.months_done = t + 1
        self.collections += 1
        self.month_flows = self._next_flows(t + 1)


_SCALAR_SET = frozenset(SCALARS)
_NO_AMOUNTS = np.zeros(0)  # add_firm_flow of real firms
_NO_FLAGS = (np.zeros(0, np.bool_),)  # an empty second group (numba types no empty tuple it indexes)
_VA, _VA_HIGHTECH, _VA_EMERGING = STOCKS.index("va"), STOCKS.index("va_hightech"), STOCKS.index("va_emerging")


@dataclass(frozen=True)
class _Plan:
    """Where Recorder.collect sums each stock quantity: the scratch cube's rows in the order summed. Two groups of
    dense columns (float64 and bool, numba indexing a tuple of arrays of one dtype; the first group is the one
    given if only one is), the first from row 0 with the firm count after it (row ``count``), the second from row
    ``second``, then one row per sparse quantity; ``src`` -> ``dst``: the scratch row of each stock row; ``used``:
    the rows summed into."""

    groups: tuple[tuple[str, ...], tuple[str, ...]]
    second: int
    sparse: tuple[tuple[str, int], ...]
    count: int
    used: int
    src: np.ndarray
    dst: np.ndarray


@functools.cache
def _plan(kinds: tuple[tuple[str, object], ...]) -> _Plan:
    """The plan for quantities of ``kinds`` ((name, its array's dtype, "sparse", or None), in the order given); the
    count is "firms", computed, so a "firms" quantity given over the firms is not read."""
    unknown = {n for n, _ in kinds} - set(STOCKS)
    if unknown:
        raise KeyError(f"unknown stock {sorted(unknown)}: declare it in indicators.STOCKS")
    floats = tuple(n for n, k in kinds if isinstance(k, np.dtype) and k == np.float64 and n != "firms")
    flags = tuple(n for n, k in kinds if isinstance(k, np.dtype) and k == np.bool_ and n != "firms")
    odd = sorted({n for n, k in kinds if k != "sparse"} - set(floats) - set(flags) - {"firms"})
    if odd:
        raise TypeError(f"stock quantities {odd}: give float64 or bool arrays over the firms, or (indices, values)")
    groups = (floats, flags) if floats else (flags, ())
    src, dst = list(range(len(groups[0]))), [STOCKS.index(n) for n in groups[0]]
    count = max(len(groups[0]), 1)  # no dense quantity: a column of zeros is summed, and the count after it
    src.append(count)
    dst.append(STOCKS.index("firms"))
    second = base = count + 1
    src += range(base, base + len(groups[1]))
    dst += [STOCKS.index(n) for n in groups[1]]
    base += len(groups[1])
    sparse = []
    for name in STOCKS:
        if (name, "sparse") in kinds:
            sparse.append((name, base))
            src.append(base)
            dst.append(STOCKS.index(name))
            base += 1
    return _Plan(groups, second, tuple(sparse), count, base, np.array(src, np.int64), np.array(dst, np.int64))


@functools.cache
def _rows_of(names: tuple[str, ...]) -> np.ndarray:
    """The rows in FLOWS of ``names`` (each an error if unknown)."""
    return np.array([_FLOW_INDEX[n] for n in names], np.int64)


# A flow's cells start at +0.0 and only have amounts added, so none is ever -0.0 (in IEEE arithmetic x + y is -0.0
# only if both are), and adding +0.0 to one changes no bit: the kernels below add a call's sums to the cells its
# firms occupy only, with numpy's bits for ``row += np.bincount(...)``, which adds every cell.


@njit(cache=True, nogil=True)
def _add_binned(bins, flow_key, amounts, rows, flows, sums):
    """flows[rows[b]] += np.bincount(flow_key[bins == b], weights=amounts[bins == b], minlength=flows.shape[1])
    for each bin b (-1: no flow): each cell's firms summed in order from 0 (in ``sums``, zero before and after),
    then added to the row."""
    for j in range(bins.size):
        if bins[j] < -1 or bins[j] >= rows.size:
            raise IndexError("a bin outside the binned flows")
    for j in range(bins.size):
        if bins[j] >= 0:
            sums[rows[bins[j]], flow_key[j]] += amounts[j]
    for j in range(bins.size):
        if bins[j] >= 0:
            r, c = rows[bins[j]], flow_key[j]
            flows[r, c] += sums[r, c]
            sums[r, c] = 0.0


@njit(cache=True, nogil=True)
def _add_firm_flow(idx, flow_key, weight, amounts, has_amounts, flows, r, scratch):
    """flows[r] += np.bincount(flow_key[idx], weights=(amounts x) weight[idx], minlength=flows.shape[1]): each cell's
    firms summed in order from 0 (in scratch[0], zero before and after), then added to the row."""
    row, sums = flows[r], scratch[0]
    for j in range(idx.size):
        i = idx[j]
        sums[flow_key[i]] += amounts[j] * weight[i] if has_amounts else weight[i]
    for j in range(idx.size):
        c = flow_key[idx[j]]
        row[c] += sums[c]
        sums[c] = 0.0


@njit(cache=True, nogil=True)
def _cube_sums(key, weights, first, second, n_second, base, cube):
    """One pass over the firms: at each firm's key k (cell k // 4, flag slot k % 4), ``cube[cell, j, slot]`` +=
    ``first[j]`` (times ``weights``, if given), row ``len(first)`` += 1 (or the weight), and ``cube[cell, base + j,
    slot]`` += ``second[j]`` for j < ``n_second`` likewise: what ``np.bincount(key, weights=...)`` gives for each
    column, firm by firm in the same order, so the same sums to the bit."""
    n_first = len(first)
    for i in range(key.size):
        c, slot = key[i] >> 2, key[i] & 3
        for j in range(n_first):
            if weights is None:
                cube[c, j, slot] += first[j][i]
            else:
                cube[c, j, slot] += first[j][i] * weights[i]
        cube[c, n_first, slot] += 1.0 if weights is None else weights[i]
        for j in range(n_second):
            if weights is None:
                cube[c, base + j, slot] += second[j][i]
            else:
                cube[c, base + j, slot] += second[j][i] * weights[i]


@njit(cache=True, nogil=True)
def _sparse_sums(idx, values, weights, key, cube, row):
    """Row ``row`` of ``cube`` += np.bincount(key[idx], weights=values (x weights[idx])): firm by firm in the order
    given."""
    for j in range(idx.size):
        i = idx[j]
        cube[key[i] >> 2, row, key[i] & 3] += values[j] if weights is None else values[j] * weights[i]


@njit(cache=True, nogil=True)
def _occupied(cube, count, cells):
    """The cells where the firm count (row ``count``) is not 0 in any flag slot, ascending, into ``cells``;
    returns how many."""
    n = 0
    for c in range(cube.shape[0]):
        if cube[c, count, 0] != 0.0 or cube[c, count, 1] != 0.0 or cube[c, count, 2] != 0.0 or cube[c, count, 3] != 0.0:
            cells[n] = c
            n += 1
    return n


@njit(cache=True, nogil=True)
def _fold_cells(cube, src, dst, cells, w, va, hightech, emerging, used, out):
    """At each of ``cells``, ``out[dst[j]]`` = row ``src[j]`` of the cube x ``w`` with the key's two last flags
    (high-tech, emerging: the four slots) summed out, ((c00 + c01) + c10) + c11, and from the value added
    (``dst[j] == va``) the value added of high-tech firms (c10 + c11) and of emerging ones (c01 + c11): numpy's
    products and sums of the strided slices, cell by cell in the same order, so the same bits. The cube's first
    ``used`` rows are left zero again at these cells (and are zero elsewhere). Every other cell of ``out`` stays
    0.0, what the fold of an empty cell gives (0.0 x w summed)."""
    for n in range(cells.size):
        c = cells[n]
        for j in range(src.size):
            s, r = src[j], dst[j]
            a, b = cube[c, s, 0] * w[4 * c], cube[c, s, 1] * w[4 * c + 1]
            d, e = cube[c, s, 2] * w[4 * c + 2], cube[c, s, 3] * w[4 * c + 3]
            out[r, c] = ((a + b) + d) + e
            if r == va:
                out[hightech, c] = d + e
                out[emerging, c] = b + e
        for s in range(used):
            for k in range(4):
                cube[c, s, k] = 0.0


def record_month(model, wage: float, owing: np.ndarray) -> None:
    """Data collection (MODEL.md section 3, step 8): the month's stocks and scalars of ``model``; ``owing``:
    the firms with debt or a lease liability, in ascending order."""
    f, e = model.firms, model.params.economy
    queued = (f.proj_phase == QUEUED).nonzero()[0]
    quantities = {  # unweighted: the recorder applies the (per size class) weights
        "employees": f.employed,
        "va": f.value_added,
        "profit": f.profit,
        "robots": f.robots,  # nonzero in the firms that completed a project; in the pass over all firms anyway
        "gap_firms": f.has_gap,
        "workers_saved": f.workers_saved,
        "queued": (queued, np.ones(queued.size)),  # sparse: (firms, values)
        "debt": (owing, f.debt[owing]),
        "lease_liability": (owing, f.lease_liability[owing]),
    }
    prov, t = model.providers, model.month
    model.recorder.collect(t, f.stock_key, quantities, {
        "fund_remaining": model.government.fund_remaining,
        "fund_spent": model.government.paid_this_month,
        "running_cost": model.running_cost_this_month,
        "providers": len(prov.providers),
        "provider_capacity": prov.total_capacity,
        "provider_active": prov.total_active,
        "conferences_held": model.demonstration.held_this_month,
        "pilots": model.demonstration.pilots_total,
        "wage_all": wage,
        "labour_pool": float(model.labour.pool.sum()),
        "price_index": model.price_level,
        "shared_platforms": len(model.shared.platforms),
        "shared_capacity": float(model.shared.capacity.sum()),
        "wage_private": model.wage_private[model.tables.year_row(2013 + t // 12)],
    }, renewal_share=e.renewal_investment_share * (1.0 + e.renewal_share_growth) ** (min(t, model.renewal_end) / 12),
        weights=f.weight if model.dynamics.enabled and model.recorder.weights_differ else None)


@dataclass
class Agg:
    """Cubes reduced to periods P and groups G: stock S [P,Q,G,2,5,2] at period end, mean M (same
    shape), flow sums F [P,F,G,2], province scalars at period end Z and mean Zm [P,S]."""

    S: np.ndarray
    M: np.ndarray
    F: np.ndarray
    Z: np.ndarray
    Zm: np.ndarray
    months: np.ndarray  # months in each period
    equip_va: np.ndarray  # [P,G] mean value-added rate of above-size equipment-manufacturing firms
    other_investment_share: float

    def s(self, q: str, above=slice(None), stage=slice(None), cloud=slice(None), mean=False) -> np.ndarray:
        """Stock ``q`` (period end, or period mean) summed over the selected size/stage/cloud cells."""
        r = (self.M if mean else self.S)[:, STOCKS.index(q)][:, :, above, stage, cloud]
        return r.reshape(r.shape[0], r.shape[1], -1).sum(axis=2)

    def f(self, q: str, above=slice(None)) -> np.ndarray:
        a = self.F[:, _FLOW_INDEX[q]]
        return a[:, :, above].sum(axis=2) if isinstance(above, slice) else a[:, :, above]

    def z(self, q: str, mean: bool = False) -> np.ndarray:
        return (self.Zm if mean else self.Z)[:, SCALARS.index(q)][:, None]

    def va_amount(self, above=slice(None)) -> np.ndarray:
        """Value added in the period (yuan): mean annual rate x months / 12."""
        return self.s("va", above, mean=True) * self.months[:, None] / 12.0


def _periods(n_months: int, yearly: bool) -> list[np.ndarray]:
    if not yearly:
        return [np.array([t]) for t in range(n_months)]
    return [np.arange(y, min(y + 12, n_months)) for y in range(0, n_months, 12)]


def aggregate(rec: Recorder, level: str, yearly: bool, first: int = 0, last: int | None = None,
              levels: tuple[str, ...] = ()) -> Agg:
    """Reduce the recorder's cubes (months ``first`` to ``last``, default all done) to periods (months
    or years) and groups (the province, its cities or its sectors). ``levels``: the other levels the caller
    will aggregate next, summed from the cubes in the same pass."""
    T = (rec.months_done if last is None else last + 1) - first
    sc = rec.scalars[first:first + T]
    g_st, g_fl, eq = _group_sums(rec, (level, *levels), first, T)[level]
    if not yearly:  # a month is its own period: its end, mean and sum are the month's values
        return Agg(g_st, g_st, g_fl, sc, sc, np.ones(T), eq, rec.other_investment_share)
    periods = _periods(T, yearly)
    S = np.stack([g_st[p[-1]] for p in periods])
    M = np.stack([g_st[p].mean(axis=0) for p in periods])
    F = np.stack([g_fl[p].sum(axis=0) for p in periods])
    Z = np.stack([sc[p[-1]] for p in periods])
    Zm = np.stack([sc[p].mean(axis=0) for p in periods])
    months = np.array([len(p) for p in periods], float)
    equip_va = np.stack([eq[p].mean(axis=0) for p in periods])
    return Agg(S, M, F, Z, Zm, months, equip_va, rec.other_investment_share)


@njit(cache=True, nogil=True)
def _level_sums(cube, province, city, sector):
    """A cube [T,K,C,S,Z] (cities C, sectors S) summed to the province [T,K,Z], the cities [T,K,C,Z] and the
    sectors [T,K,S,Z] (zero before) in one pass, reading the cube in memory order. Each sum adds its terms from 0.0
    in the order of the cube's cities, then sectors, as ``np.einsum("tkcsz->tkz")``, ``("tkcsz->tkcz")`` and
    ``("tkcsz->tksz")`` do: the same bits. (With the quantity k innermost, as until 2026-12-06, the stock cube,
    whose rows are 20 long, was read 20 numbers apart: both cubes' three levels took 9.4 ms a run at scale 0.02,
    against 4.4 now; keeping k innermost for the flows' 2-long rows alone saved another 0.5 ms, not worth a
    second loop.)"""
    T, K, C, S, Z = cube.shape
    for t in range(T):
        for k in range(K):
            for c in range(C):
                for s in range(S):
                    for z in range(Z):
                        v = cube[t, k, c, s, z]
                        province[t, k, z] += v
                        city[t, k, c, z] += v
                        sector[t, k, s, z] += v


def _cube_to_levels(cube: np.ndarray, levels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A cube [T,K,C,S,Z] summed to each of ``levels``: [T,K,G,Z], G the level's groups (1 for the province).
    One level: einsum (numpy's reduction over middle axes runs an inner loop over the short kept axis, 7x
    slower here). More: one compiled pass for all three (two einsum passes cost more than it), the same bits."""
    T, K, C, S, Z = cube.shape
    if len(levels) == 1:
        spec = {"province": "tkcsz->tkz", "city": "tkcsz->tkcz", "sector": "tkcsz->tksz"}[levels[0]]
        out = np.einsum(spec, cube)
        return {levels[0]: out[:, :, None] if levels[0] == "province" else out}
    province, city, sector = np.zeros((T, K, 1, Z)), np.zeros((T, K, C, Z)), np.zeros((T, K, S, Z))
    _level_sums(cube, province[:, :, 0], city, sector)
    return {"province": province, "city": city, "sector": sector}


def _group_sums(rec: Recorder, levels: tuple[str, ...], first: int, T: int) -> dict[str, tuple]:
    """Months ``first`` to ``first + T - 1`` of the stock and flow cubes summed to the groups of each of ``levels``,
    and the value added of above-size equipment-manufacturing firms by group: {level: (stocks [T,Q,G,2,5,2],
    flows [T,F,G,2], [T,G])}. Kept for the recorder's last collection, so a run's yearly and monthly tables sum
    its cubes once."""
    key = (first, T, rec.collections)
    sums = rec._group_sums[1] if rec._group_sums[0] == key else {}
    missing = tuple(lv for lv in dict.fromkeys(levels) if lv not in sums)
    if missing:
        nc, ns = rec.n_cities, rec.n_sectors
        st = rec.stocks[first:first + T].reshape(T, len(STOCKS), nc, ns, N_SIZE, N_STAGES, N_CLOUD)
        fl = rec.flows[first:first + T].reshape(T, len(FLOWS), nc, ns, N_SIZE)
        g_st = _cube_to_levels(st.reshape(T, len(STOCKS), nc, ns, -1), missing)
        g_fl = _cube_to_levels(fl, missing)
        # equipment value added of above-size firms by group: sum over equipment sectors
        equipment = rec.equipment
        va_eq = st[:, STOCKS.index("va")][:, :, equipment, ABOVE].sum(axis=(3, 4))  # (T, nc, n_eq)
        for level in missing:
            if level == "province":
                eq = va_eq.sum(axis=(1, 2))[:, None]
            elif level == "city":
                eq = va_eq.sum(axis=2)
            else:
                eq = np.zeros((T, ns))
                eq[:, equipment] = va_eq.sum(axis=1)
            s = g_st[level]
            sums[level] = (s.reshape(*s.shape[:3], N_SIZE, N_STAGES, N_CLOUD), g_fl[level], eq)
            for a in sums[level]:
                a.setflags(write=False)  # shared by the tables made from them
        rec._group_sums = (key, sums)
    return sums


def groups(rec: Recorder, level: str) -> list[tuple[str, str]]:
    """(region, sector) labels of a level's groups; region 'Zhejiang' and sector 'all' for totals."""
    return {"province": [("Zhejiang", "all")], "city": [(c, "all") for c in rec.cities],
            "sector": [("Zhejiang", s) for s in rec.sectors]}[level]


def tidy_rows(rec: Recorder, yearly: bool, names: tuple[str, ...] | None = None,
              levels: tuple[str, ...] | None = None) -> list[tuple]:
    """(period, region, sector, indicator, value) rows: yearly for the province, cities and sectors,
    monthly for the province and cities (``levels``: only these of them, e.g. ("province",) where only
    province-wide values are read)."""
    T = rec.months_done
    labels = ([str(2013 + y // 12) for y in range(0, T, 12)] if yearly else [month_label(t) for t in range(T)])
    levels = tuple(lv for lv in (LEVELS if yearly else ("province", "city")) if levels is None or lv in levels)
    rows: list[tuple] = []
    wanted = [indicator(n) for n in names] if names else INDICATORS
    for n, level in enumerate(levels):
        agg = aggregate(rec, level, yearly, levels=levels[n + 1:])
        with np.errstate(invalid="ignore", divide="ignore"):
            # [period][group] as Python floats: float() of each element, in one call per indicator
            values = {ind.name: np.asarray(ind.fn(agg), float).tolist() for ind in wanted if level in ind.levels}
        for p, label in enumerate(labels):
            for g, (region, sector) in enumerate(groups(rec, level)):
                rows.extend([(label, region, sector, name, v[p][g]) for name, v in values.items()])
    return rows


def values_at(rec: Recorder, t: int, names: tuple[str, ...], level: str = "province") -> dict[str, np.ndarray]:
    """Values of ``names`` in month ``t`` alone, one per group of ``level`` (growth rates are NaN)."""
    agg = aggregate(rec, level, False, first=t, last=t)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {n: indicator(n).fn(agg)[0] for n in names}


__all__ = ["Recorder", "record_month", "Agg", "aggregate", "tidy_rows", "values_at", "groups"]

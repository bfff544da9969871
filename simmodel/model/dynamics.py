"""Firm dynamics (docs/ODD.md 3.4.13): growth and decline, exit, entry, and the above-size threshold.

Once a year, at the start of January and before anything else that month (``dynamics.firm_dynamics``):
  1. exit: a firm whose last ``exit_loss_years`` calendar years each closed with a loss (profit after
     interest) and whose cash is negative closes. Its loans are written off in the bank's books and its
     leases in the lessors' (finance.write_off, as for a default); the provider implementing its
     project frees the capacity; its fund application and cloud services end. What its negative cash
     stood for (unpaid suppliers and owners) is recorded as ``exit_unpaid``.
  2. entry: each closed firm's slot is taken at once by an entrant of the same city, sector and agent
     weight (so firm counts and the sampling design stay as built: entry replaces exit one for one,
     an assumption). The entrant is drawn like a small firm of January 2013 (population.draw_attributes)
     at the month's productivity level (the 2013 level grown by the trend, at the year's prices), with a new random key and every draw keyed by it
     (:class:`KeyedDraws`), so entrants are the same whichever scenario closed the slot at that time.
  3. growth and decline: every firm's demand (capacity output) and recruitable workforce move by a
     factor exp(sd z - sd^2 / 2), z keyed by firm and year (mean factor 1: the province's growth is
     still the exogenous series).
  4. the threshold: a firm is above designated size this year when last year's revenue (value added
     over ``va_to_revenue``) reached ``revenue_threshold`` (an entrant: its first month's rate). Firms
     cross both ways; crossing changes the firm's wage series, its cloud potential and its keys.
Agent weights then differ within a size class, so the recorder weighs each agent (recorder.collect).
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
from numba import njit
from scipy.special import ndtri

from . import finance, libm
from .allocation import event_id, mix, tie_break
from .firms import IMPLEMENTING, Firms
from .population import draw_attributes, make_firms, va_threshold

PER_FIRM = tuple(x.name for x in fields(Firms) if x.name not in ("cell_precision", "cell_weighted", "level"))


def keyed_normal(keys: np.ndarray, event: int) -> np.ndarray:
    """A standard normal draw per firm key for ``event`` (allocation.tie_break, by inverse CDF)."""
    return ndtri(tie_break(keys, event) + 2.0**-54)  # the uniform moved into (0, 1)


@njit(cache=True, nogil=True)
def _beta2_quantile_kernel(b, u, out):
    """Beta(2, b)'s quantile at each ``u``: the x where the survival (1 - x)^b (1 + b x) is 1 - u, i.e.
    b log1p(-x) + log1p(b x) = c = log1p(-u). Below the median of the two halves (x <= 1/2) it solves for x, above
    it for y = 1 - x from b log(y) + log1p(b (1 - y)) = c, so that each unknown is small where its side is steep
    and keeps its precision. First guesses from each end's leading term: x = sqrt(-2 c / (b (b + 1))),
    y = ((1 - u) / (1 + b))^(1 / b). Newton's method on the rising form g(t) of either, kept inside the bracket
    the signs give (bisection where a step would leave it), stops after a step below 2^-48 of t: converging
    quadratically, the step after it would be below rounding."""
    half = b * math.log1p(-0.5) + math.log1p(0.5 * b)  # the left side at x = 1/2
    for i in range(u.size):
        c = math.log1p(-u[i])
        upper = c < half
        t = math.exp((c - math.log1p(b)) / b) if upper else math.sqrt(-2.0 * c / (b * (b + 1.0)))
        t = min(t, 0.5)
        lo, hi = 0.0, 0.5
        for _ in range(100):
            if upper:  # t = y = 1 - x
                g = b * math.log(t) + math.log1p(b * (1.0 - t)) - c
                slope = b * (b + 1.0) * (1.0 - t) / (t * (1.0 + b * (1.0 - t)))
            else:  # t = x
                g = c - b * math.log1p(-t) - math.log1p(b * t)
                slope = b * (b + 1.0) * t / ((1.0 - t) * (1.0 + b * t))
            if g < 0.0:
                lo = t
            else:
                hi = t
            nxt = t - g / slope
            if abs(nxt - t) <= 2.0**-48 * t:
                t = min(max(nxt, lo), hi)  # a last step of rounding size may cross the bracket
                break
            t = nxt if lo < nxt < hi else 0.5 * (lo + hi)
        out[i] = 1.0 - t if upper else t


def beta2_quantile(b: float, u: np.ndarray) -> np.ndarray:
    """Beta(2, ``b``)'s quantiles at ``u`` in (0, 1), as scipy.special.betaincinv(2, b, u) gives them to within
    the tolerance tests/test_dynamics.py states, at a fraction of its cost."""
    u = np.ascontiguousarray(u, dtype=np.float64)
    out = np.empty(u.size)
    _beta2_quantile_kernel(float(b), u, out)
    return out


class KeyedDraws:
    """Draws with a numpy Generator's interface (the calls draw_attributes makes), each firm's from its
    own key: the k-th call gives every firm a number that depends only on its key and k."""

    def __init__(self, keys: np.ndarray):
        self.keys, self.calls = keys, 0

    def _event(self) -> int:
        self.calls += 1
        return event_id("entrant draw", self.calls)

    def random(self, n: int) -> np.ndarray:
        return tie_break(self.keys, self._event()) + 2.0**-54  # in (0, 1)

    def standard_normal(self, shape) -> np.ndarray:
        if isinstance(shape, tuple):
            return np.column_stack([keyed_normal(self.keys, self._event()) for _ in range(shape[1])])
        return keyed_normal(self.keys, self._event())

    def beta(self, a, b, n: int) -> np.ndarray:
        if a != 2.0:
            raise ValueError(f"keyed Beta draws are Beta(2, b), the population's shapes, not a = {a}")
        return beta2_quantile(b, self.random(n))

    def integers(self, low, high, size, dtype) -> np.ndarray:
        return (mix(self.keys, self._event()) >> np.uint64(1)).astype(dtype)


class FirmDynamics:
    """The yearly turnover of a TransformationModel's firms (see the module docstring)."""

    def __init__(self, model):
        self.model, self.p = model, model.params.dynamics
        self.enabled = bool(self.p.firm_dynamics) and not model.bass

    def year_start(self) -> None:
        """January: exits and entrants, growth shocks, the new above-size panel (module docstring)."""
        m = self.model
        if not self.enabled or m.month <= 0 or m.month % 12:
            return
        f = m.firms
        f.va_last_year[:] = f.va_year  # an entrant's slot gets 0 below (make_firms): it did not operate last year
        f.loss_years[:] = np.where(f.profit_year < 0, np.minimum(f.loss_years.astype(np.int16) + 1, 100), 0)
        closing = ((f.loss_years >= self.p.exit_loss_years) & (f.cash < 0)).nonzero()[0]
        if closing.size:
            self.close(closing)
            self.enter(closing)
        self.grow(f, m.month // 12)
        self.classify(f)
        f.va_year[:] = 0.0
        f.profit_year[:] = 0.0
        m.peers.stages_changed()

    def year_end(self) -> None:
        """December: the value added of this year's above-size firms that operated all of last year, this year's and
        their own last year's at this year's prices (flows va_same_firms and va_same_firms_last_year, whose ratio is
        the indicator va_growth_same_firms_above: growth on comparable firms, docs/ODD.md 3.6)."""
        m = self.model
        if not self.enabled or m.month % 12 != 11:
            return
        f = m.firms
        same = (f.above & f.alive & (f.va_last_year > 0)).nonzero()[0]
        prices = m.price_level / m.tables.price_level(2013 + m.month // 12 - 1, m.deflate_from)
        m.flow("va_same_firms", same, f.va_year[same])
        m.flow("va_same_firms_last_year", same, f.va_last_year[same] * prices)

    def close(self, d: np.ndarray) -> None:
        """Firms ``d`` close: debts written off, project, application and cloud services end."""
        m = self.model
        f = m.firms
        m.flow("firm_exits", d)
        m.flow("exit_written_off", d, f.debt[d] + f.lease_liability[d])
        m.flow("exit_unpaid", d, np.maximum(-f.cash[d], 0.0))
        finance.write_off(f, d, m.bank, m.leasing, m.tables.sector_labour_saving)
        impl = d[(f.proj_phase[d] == IMPLEMENTING) & (f.proj_provider[d] >= 0)]
        if impl.size:
            m.providers.release(impl)
        gov = m.government
        gov.applications = [tuple(x[keep] for x in a) for a in gov.applications
                            for keep in [~np.isin(a[0], d)] if keep.any()]
        m.cloud.firms_leave(f, d[f.on_cloud[d]])
        m.shared.firms_leave(d)

    def enter(self, d: np.ndarray) -> None:
        """Entrants take slots ``d``: same city, sector and weight; drawn like small firms of 2013."""
        m = self.model
        f, t = m.firms, m.month
        keys = mix(f.key[d], event_id("entrant key", t))
        level = f.level * (1.0 + m.params["economy.productivity_trend"]) ** (t / 12) * m.price_level
        small = np.zeros(d.size, bool)
        attrs = draw_attributes(small, f.sector[d], m.params, m.tables, KeyedDraws(keys), level=level,
                                va_threshold=va_threshold(m.params))
        attrs["key"] = keys
        yr = m.tables.year_row(2013 + t // 12)  # this year's wages: decisions read the margin before it produces
        new = make_firms(f.city[d], f.sector[d], small, f.weight[d], attrs, m.params, m.tables,
                         (m.wage[yr], m.wage_private[yr]))
        new.va_year[:] = new.value_added  # an entrant is classified on its first month's rate
        for name in PER_FIRM:
            getattr(f, name)[d] = getattr(new, name)
        m.demonstration.attended[d] = -1
        m.size_changed(d)  # an entrant is small: its flows are recorded as such
        m.thinning.new_firms(d)
        m.cloud.reset(f, d)
        m.flow("firm_entries", d)

    def grow(self, f: Firms, year: int) -> None:
        """The year's idiosyncratic demand shocks (keyed by firm and year)."""
        sd = self.p.growth_sd
        if sd <= 0:
            return
        z = keyed_normal(f.key, event_id("firm growth", year))
        factor = libm.exp(sd * z - 0.5 * sd * sd)
        f.output *= factor
        f.workforce_cap *= factor

    def classify(self, f: Firms) -> None:
        """The year's above-size panel from last year's revenue; crossings are recorded."""
        m = self.model
        above = f.va_year >= va_threshold(m.params)
        changed = (above != f.above).nonzero()[0]
        if changed.size == 0:
            return
        up = changed[above[changed]]
        m.flow("crossed_up", up)
        m.flow("crossed_down", changed[~above[changed]])
        f.above[changed] = above[changed]
        f.update_keys(changed)
        m.size_changed(changed)
        m.cloud.reset(f, changed)

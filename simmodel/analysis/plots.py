"""Figures (matplotlib, Agg): replications, comparisons, sweeps and calibration read these.

Every function takes tidy pandas frames and a path, writes one PNG and returns the path.
"""

from __future__ import annotations

import textwrap
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..model.indicators import headline_for, indicator  # noqa: E402
from ..model.stages import STAGE_COLOURS, STAGE_LABELS  # noqa: E402
from ..runs import store  # noqa: E402
from .stats import MIN_BAND_RUNS as _MIN_BAND_RUNS  # noqa: E402
from .posterior import design_phrase  # noqa: E402
from .stats import band_note, cell_noise, has_band, level_means, replication_word  # noqa: E402


_extra_formats: ContextVar[tuple[str, ...]] = ContextVar("extra_formats", default=())


@contextmanager
def formats(*extra: str):
    """Within this block every figure is also written as ``extra`` (e.g. "svg", "pdf") beside its PNG."""
    token = _extra_formats.set(tuple(f for f in extra if f != "png"))
    try:
        yield
    finally:
        _extra_formats.reset(token)


def _save(fig, path: Path) -> Path:
    """The figure as a 300 dpi PNG (and the formats asked for, beside it), written atomically."""
    store.write_figure(fig, path)
    for fmt in _extra_formats.get():
        store.write_figure(fig, Path(path).with_suffix("." + fmt))
    plt.close(fig)
    return path


def _axis_label(name: str) -> str:
    """An indicator's label and the unit it is drawn in."""
    ind = indicator(name)
    return f"{ind.label} ({ind.display_unit})" if ind.display_unit else ind.label


def _factor_label(key: str) -> str:
    """A sweep factor's axis label: the parameter's label (or the start of its description) and unit."""
    from ..params import BY_KEY

    p = BY_KEY.get(key)
    if p is None:
        return key
    text = p.label or p.doc.split(";")[0].split(" (")[0]
    return f"{text} ({p.unit})" if p.unit and p.unit != "-" else text


MIN_BAND_RUNS = _MIN_BAND_RUNS  # a 5-95 % band is drawn only over at least this many runs (stats.py: why)


def _province(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[(summary.region == "Zhejiang") & (summary.sector == "all")]


def headline(summary: pd.DataFrame, path: Path, title: str, over: str | None = None) -> Path:
    """Headline indicators by year: mean over runs and the 5-95 % band, against the reported figures
    (calibration/targets.toml levels, with their tolerance); years after the last reported figure are
    shaded as projection. ``over`` says what the band is over when it is not seeds alone."""
    from .targets import load_targets

    prov = _province(summary)
    n = int(prov.seeds.max()) if "seeds" in prov and len(prov) else 0
    reported = [t for t in load_targets() if t.kind == "level" and t.role != "excluded"]
    last_data = max(int(t.year) for t in reported)
    names = headline_for(lambda n: bool((prov[prov.indicator == n]["mean"] > 0).any()))
    simulated = set(prov.period.astype(int))  # a reported figure outside the run's years has nothing to meet
    rows = -(-len(names) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(12, 3 * rows), sharex=True)
    for k in range(len(names), axes.size):  # an empty panel: the one above it shows the years
        axes.flat[k].set_visible(False)
        axes.flat[k - 3].xaxis.set_tick_params(labelbottom=True)
        axes.flat[k - 3].set_xlabel("year", fontsize=8)
    for ax, name in zip(axes.flat, names):
        div = indicator(name).scale
        d = prov[prov.indicator == name].sort_values("period")
        x = d.period.astype(int)
        if n >= MIN_BAND_RUNS:
            ax.fill_between(x, d.p05 / div, d.p95 / div, alpha=0.25, lw=0, label="5-95 % band")
        ax.plot(x, d["mean"] / div, lw=2, label="simulated (mean)")
        for t in (t for t in reported if t.indicator == name and int(t.year) in simulated):
            kw = dict(fmt="o", color="k", ms=4, capsize=3, label="reported")
            if t.bound:  # an arrow from the bound toward the side that meets it
                ax.errorbar([t.year], [t.value / div], yerr=[[0.0], [0.0]], **kw)
                ax.annotate("", (t.year, t.value / div * (1.06 if t.bound == "lower" else 0.94)),
                            (t.year, t.value / div), arrowprops=dict(arrowstyle="->", color="k"))
            else:
                ax.errorbar([t.year], [t.value / div], yerr=[t.tolerance / div], **kw)
        if x.size and x.max() > last_data:
            ax.axvspan(last_data + 0.5, x.max() + 0.5, color="0.5", alpha=0.12, lw=0, label="projection")
        ax.set_title(indicator(name).label, fontsize=10)
        ax.set_ylabel(indicator(name).display_unit, fontsize=8)
        ax.grid(alpha=0.3)
    if simulated:  # shared by every panel
        axes.flat[0].set_xlim(min(simulated) - 0.5, max(simulated) + 0.5)
    span = max(simulated) - min(simulated) if simulated else 0
    # whole years (2014, not 2013.5), few enough that a run to 2030 keeps its labels apart
    axes.flat[0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=None if span <= 9 else 6))
    for ax in axes[-1]:
        ax.set_xlabel("year", fontsize=8)
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), frameon=False, fontsize=9)
    what = over or f"{n} seed{'s' if n != 1 else ''}"
    band = (f"mean and 5-95 % band over {what}" if n >= MIN_BAND_RUNS else
            f"mean over {what} (no band: fewer than {MIN_BAND_RUNS} runs)")
    fig.suptitle(f"{title}: {band}; black: reported (with its tolerance; last reported year {last_data})")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def stage_shares(monthly_mean: pd.DataFrame, path: Path, title: str, over: str = "") -> Path:
    """Stacked shares of firms at each stage over time (province, mean over seeds; ``over``: what the mean is
    over, for the title)."""
    prov = monthly_mean[(monthly_mean.region == "Zhejiang") & (monthly_mean.sector == "all")]
    wide = prov[prov.indicator.str.startswith("share_stage_")].pivot(index="period", columns="indicator",
                                                                       values="value").sort_index()
    x = pd.to_datetime(wide.index)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.stackplot(x, *[100 * wide[f"share_stage_{k}"] for k in range(5)], labels=STAGE_LABELS,
                 colors=STAGE_COLOURS)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of all manufacturers")
    ax.set_title(f"{title}: firms by stage (all sizes)" + (f", mean over {over}" if over else ""))
    ax.set_xlabel("month")
    handles, labels = ax.get_legend_handles_labels()  # listed as stacked: the top stage first
    ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def cities(summary: pd.DataFrame, path: Path, title: str, over: str | None = None) -> Path:
    """The 11 cities side by side in the last year: firms at stage >= 1, above-size digitized, on the cloud
    (whiskers: the 5-95 % band, drawn only from stats.MIN_BAND_RUNS runs on)."""
    last = summary.period.astype(int).max()
    d = summary[(summary.sector == "all") & (summary.region != "Zhejiang") & (summary.period.astype(int) == last)]
    n = int(d.seeds.max()) if "seeds" in d and len(d) else 0
    names = list(dict.fromkeys(d.region))
    firms = d[d.indicator == "firms"].set_index("region").reindex(names)["mean"]  # constant over seeds

    def share(ind, per_firm):
        v = d[d.indicator == ind].set_index("region").reindex(names)[["mean", "p05", "p95"]]
        return v.div(firms, axis=0) if per_firm else v

    bars = ((share("firms_stage_1plus", True), "firms at stage >= 1 (all sizes)"),
            (share("share_digitized_above", False), "above-size firms digitized"),
            (share("cloud_firms", True), "firms on the cloud (all sizes)"))
    fig, ax = plt.subplots(figsize=(12, 4.6))
    width = 0.27
    xs = np.arange(len(names))
    for j, (v, label) in enumerate(bars):
        err = np.clip(np.vstack([v["mean"] - v.p05, v.p95 - v["mean"]]), 0, None) * 100  # rounding
        ax.bar(xs + (j - 1) * width, 100 * v["mean"], width, yerr=err if has_band(n) else None, capsize=2,
               label=label)
    ax.set_xticks(xs, names, rotation=30)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    seeds = f"{n} seed{'s' * (n != 1)}"
    ax.set_title(f"{title}: the cities in {last} (bars: mean, whiskers: 5-95 % over {over or 'seeds'})"
                 if has_band(n) else f"{title}: the cities in {last} (bars: mean over {over or seeds}; {band_note(n)})")
    ax.legend(frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.28))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


# The outcomes of comparison tables and bars (effects and contributions): (indicator, label, display divisor,
# display unit); flows in CUMULATIVE are summed from 2013 to the year shown, the rest are that year's value
CUMULATIVE = ("public_cost",)
CONTRIBUTION_METRICS = tuple((n, indicator(n).label + (", from 2013" if n in CUMULATIVE else ""), indicator(n).scale,
                              indicator(n).display_unit) for n in
                             ("firms_stage_1plus", "labour_productivity_above", "tech_investment", "cloud_firms",
                              "public_cost"))


def effect_bars(table: pd.DataFrame, path: Path, title: str, runs: int, over: str | None = None,
                interval: str = "95 % interval of the mean") -> Path:
    """Bars, one panel per metric of CONTRIBUTION_METRICS: a row per bar (column ``row``, in order) with
    the ``mean`` and, from stats.MIN_BAND_RUNS runs on, whiskers from ``p05`` to ``p95`` (the spread of single
    runs) and a thick black segment from ``lo`` to ``hi`` (the interval of the mean, which tells an effect from
    zero; ``interval`` names it). ``title`` says what the bars are (an effect, scenario minus reference, or an
    instrument's contribution)."""
    metrics = [m for m in CONTRIBUTION_METRICS if m[0] in set(table.metric)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.5 * len(metrics), 4.8), sharey=True, squeeze=False)
    axes = axes[0]
    rows = list(dict.fromkeys(table.row))
    ys = np.arange(len(rows))
    banded = has_band(runs)
    for ax, (metric, label, div, unit) in zip(axes, metrics):
        v = table[table.metric == metric].set_index("row").reindex(rows)
        err = np.clip(np.vstack([v["mean"] - v.p05, v.p95 - v["mean"]]), 0, None) / div if banded else None
        # one colour: a sign is neither good nor bad (less public cost is a negative bar)
        ax.barh(ys, v["mean"] / div, xerr=err, capsize=3, color="tab:blue", error_kw={"lw": 0.8, "ecolor": "0.35"})
        if banded:
            ax.hlines(ys, v.lo / div, v.hi / div, color="k", lw=3.5)
        if not np.nanmax(np.abs(np.r_[v["mean"].to_numpy(float), 0.0] / div)) > 0:
            ax.set_xlim(-1, 1)  # no difference at all: a plain zero axis, not one of 1e-16
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(unit, fontsize=9)
        ax.locator_params(axis="x", nbins=4)  # fewer ticks: the panels' edge labels do not collide
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ys, rows)
    axes[0].invert_yaxis()
    what = over or f"{runs} seed{'s' * (runs != 1)}"
    spread = (f"thin whiskers: 5-95 % of single runs, thick: {interval}, over {what}" if banded
              else f"means over {what}; {band_note(runs)}")
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(f"{title}; {spread}; common random numbers", 24 * len(metrics) + 40)),
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def differences(comparison: pd.DataFrame, path: Path, first: str, runs: int, over: str | None = None) -> Path:
    """Lines: each scenario's effect (scenario minus ``first``) over the years, with 5-95 % bands from
    stats.MIN_BAND_RUNS runs on. ``comparison`` has the columns of experiments' comparison.csv."""
    yearly = [m for m in CONTRIBUTION_METRICS if m[0] not in CUMULATIVE]
    fig, axes = plt.subplots(1, len(yearly), figsize=(3.75 * len(yearly), 4.2))
    banded = has_band(runs)
    for ax, (metric, label, div, unit) in zip(axes, yearly):
        d = comparison[comparison.indicator == metric]
        for name, g in d.groupby("scenario", sort=False):
            g = g.sort_values("period")
            x = g.period.astype(int)
            ax.plot(x, g["scen_minus_ref_mean"] / div, lw=1.8, label=name, zorder=3)  # above the zero line
            if banded:
                ax.fill_between(x, g.scen_minus_ref_p05 / div, g.scen_minus_ref_p95 / div, alpha=0.15, lw=0)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_ylabel(f"{unit}, scenario minus {first}", fontsize=8)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=5))  # years, not 2013.5; labels apart
        ax.grid(alpha=0.3)
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(len(labels), 1), frameon=False, fontsize=8)
    what = over or f"{runs} seed{'s' * (runs != 1)}"
    spread = f"mean and 5-95 % band over {what}" if banded else f"mean over {what}; {band_note(runs)}"
    fig.suptitle(f"Effect of each scenario: scenario minus {first} ({spread})", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return _save(fig, path)


# --- sweeps ------------------------------------------------------------------------------------------
def sweep_figures(folder: Path, spec=None) -> list[Path]:
    """Response curves (and a heatmap for two-factor designs) from a sweep folder's table.csv."""
    import json

    man = json.loads((folder / "manifest.json").read_text())
    factors = [f["name"] for f in man["factors"]]
    labels = {f["name"]: _factor_label(f["keys"][0]) if len(f.get("keys") or []) == 1 else
              f"{f['name']} ({', '.join(f.get('keys') or [])})" for f in man["factors"]}
    table = pd.read_csv(folder / "table.csv", dtype={"period": str})
    if table.empty:
        return []
    year = str(man.get("plot_year") or table.period.max())
    indicators = [i for i in man["indicators"] if i in set(table.indicator)]
    at = table[table.period == year]
    post = man.get("posterior")  # runs over posterior draws: say so
    over = design_phrase(post["draws"], post["seeds_per_draw"]) if post else None
    out = [_responses(at, factors, indicators, year, folder / "figures" / "response.png", over, labels,
                      _base_values(man))]
    if len(factors) == 2:
        for ind in indicators:
            out.append(_heatmap(at[at.indicator == ind], factors, ind, year,
                                folder / "figures" / f"heatmap_{ind}.png", man["design"], over, labels))
    return out


def _base_values(man: dict) -> dict:
    """The base scenario's value of each single-key numeric factor (what the sweep varies it around), or {} when
    the base scenario cannot be loaded here (a file of one's own, moved since)."""
    from ..params import ParamError
    from . import scenarios

    try:
        base = scenarios.load(man["base"]).params
    except (ParamError, OSError, KeyError):
        return {}
    out = {}
    for f in man["factors"]:
        keys = f.get("keys") or []
        if len(keys) == 1 and keys[0] in base and isinstance(base[keys[0]], (int, float)) \
                and not isinstance(base[keys[0]], bool):
            out[f["name"]] = float(base[keys[0]])
    return out


def _groups(values: pd.Series) -> tuple[pd.Series, list]:
    """Group keys for a factor: its values, or ten quantile bins when it takes many values."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique() > 12:
        bins = pd.qcut(values, 10, duplicates="drop")
        centers = bins.apply(lambda b: b.mid).astype(float)
        return centers, sorted(centers.unique())
    return values, sorted(values.unique(), key=lambda v: (str(type(v)), v))


def _responses(at: pd.DataFrame, factors: list[str], indicators: list[str], year: str, path: Path,
               over: str | None = None, labels: dict[str, str] | None = None, base: dict | None = None) -> Path:
    """One panel per indicator x factor: for a factor with a few values, the mean at each value and the
    5-95 % band of runs; for a sampled factor (many values), every run as a dot and a smoothed response
    (local-linear, Gaussian kernel) with its 90 % bootstrap band, never joined bin means."""
    fig, axes = plt.subplots(len(indicators), len(factors), figsize=(4.2 * len(factors), 3.1 * len(indicators)),
                             squeeze=False)
    sampled = marked = banded = False
    for r, ind in enumerate(indicators):
        d = at[at.indicator == ind]
        div = indicator(ind).scale
        for c, fac in enumerate(factors):
            ax = axes[r, c]
            values = d[fac]
            div_x, xlabel = _factor_scale(d, fac, labels)
            numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            if numeric and values.nunique() > 12:
                sampled = True
                x, y = values.to_numpy(float) / div_x, d["value"].to_numpy(float) / div
                ax.plot(x, y, ".", ms=2, alpha=0.3, color="0.4")
                grid, mean, lo, hi = smooth_response(x, y)
                ax.fill_between(grid, lo, hi, alpha=0.3, lw=0)
                ax.plot(grid, mean, lw=2)
            else:
                keys, order = _groups(values)
                lm = {k: v.to_numpy(float) / div for k, v in level_means(d, keys, order).items() if k != "units"}
                categorical = not _is_number(order)
                x = np.arange(len(order)) if categorical else np.array(order, float) / div_x
                mean = lm["mean"]
                ax.plot(x, mean, "o" if categorical else "o-", lw=1.8, ms=4, color="tab:blue")
                if np.isfinite(lm["lo"][0]):  # the first level's own interval: by how much the whole curve may move
                    ax.set_title(f"first level's mean \u00b1{_short((lm['hi'][0] - lm['lo'][0]) / 2)}", loc="left",
                                 fontsize=7, color="0.3")
                    banded = True
                if np.isfinite(lm["diff_lo"][1:]).any():  # the others' differences from it: how sure the response is
                    below, above = (lm["diff"] - lm["diff_lo"])[1:], (lm["diff_hi"] - lm["diff"])[1:]
                    ax.errorbar(x[1:], mean[1:], yerr=[below, above], fmt="none", ecolor="tab:blue", lw=1.8, capsize=3)
                    banded = True
                if categorical:  # levels without an order (e.g. false/true) are not joined by a line
                    ax.set_xticks(x, [_label(o) for o in order])
                    ax.set_xlim(-0.5, len(order) - 0.5)
            ax.set_xlabel(xlabel, fontsize=8)
            if fac in (base or {}):  # where the base scenario sits, inside or outside the range swept
                ax.axvline(base[fac] / div_x, color="0.3", ls=":", lw=1.2)
                marked = True
            if c == 0:
                ax.set_ylabel(_axis_label(ind), fontsize=8)
            ax.grid(alpha=0.3)
    units = replication_word(at)
    how = ("dots: runs; line: smoothed mean response (local-linear), band: its 90 % bootstrap interval"
           if sampled else "mean over the other factors and runs")
    if banded:
        how += (f"; bars: each level's difference from the first, its 95 % interval paired within the {units}, "
                "which every design point shares; above a panel: the half-width of the first level's own 95 % interval "
                f"over the {units}, by which the whole curve may move")
    how += "; dotted: the base scenario's value" if marked else ""
    title = f"Sweep responses in {year} over {over or 'seeds'}: {how}"  # wrapped to the figure (one factor: narrow)
    fig.suptitle("\n".join(textwrap.wrap(title, int(11 * fig.get_figwidth()))), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def smooth_response(x: np.ndarray, y: np.ndarray, points: int = 60, boot: int = 200,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Local-linear regression of y on x (Gaussian kernel, bandwidth a tenth of the range of x) on a
    grid, with the 5-95 % band of its bootstrap over runs (seeded: the same figure every time).
    Returns (grid, mean, low, high)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    grid = np.linspace(x.min(), x.max(), points)
    h = max(0.1 * float(np.ptp(x)), 1e-12)

    def fit(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        w = np.exp(-0.5 * ((xs[None, :] - grid[:, None]) / h) ** 2)  # (grid, runs)
        dx = xs[None, :] - grid[:, None]
        s0, s1, s2 = w.sum(1), (w * dx).sum(1), (w * dx**2).sum(1)
        t0, t1 = (w * ys).sum(1), (w * dx * ys).sum(1)
        det = s0 * s2 - s1**2
        with np.errstate(invalid="ignore", divide="ignore"):
            local_linear = (s2 * t0 - s1 * t1) / det
        return np.where(det > 1e-12 * s0**2, local_linear, t0 / np.maximum(s0, 1e-300))

    rng = np.random.default_rng(seed)
    draws = np.array([fit(x[i], y[i]) for i in rng.integers(0, len(x), (boot, len(x)))])
    lo, hi = np.nanquantile(draws, [0.05, 0.95], axis=0)
    return grid, fit(x, y), lo, hi


def _factor_scale(d: pd.DataFrame, fac: str, labels: dict[str, str] | None = None) -> tuple[float, str]:
    """(divisor, axis label) of a factor's axis: yuan amounts of a million or more in m yuan."""
    label = (labels or {}).get(fac, fac)
    values = pd.to_numeric(d[fac], errors="coerce")
    div = 1.0
    if "(yuan" in label and np.nanmax(np.abs(values.to_numpy(float))) >= 1e6:
        div, label = 1e6, label.replace(", yuan a year", "").replace("(yuan", "(m yuan")
    return div, "\n".join(textwrap.wrap(label, 52))  # a long label on two lines, not cut off at the edge


def _is_number(order: list) -> bool:
    return all(isinstance(o, (int, float, np.integer, np.floating)) and not isinstance(o, (bool, np.bool_))
               for o in order)


def _heatmap(d: pd.DataFrame, factors: list[str], ind: str, year: str, path: Path, design: str,
             over: str | None = None, labels: dict[str, str] | None = None) -> Path:
    a, b = factors
    ka, oa = _groups(d[a])
    kb, ob = _groups(d[b])
    div = indicator(ind).scale
    cells = d.groupby([ka.rename(a), kb.rename(b)])["value"]
    grid = cells.mean().unstack(b).reindex(index=oa, columns=ob) / div
    values = grid.to_numpy(float)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    im = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis")
    (sa, la), (sb, lb) = _factor_scale(d, a, labels), _factor_scale(d, b, labels)
    ax.set_xticks(range(len(ob)), [_label(v / sb if _is_number([v]) else v) for v in ob], rotation=30, fontsize=8)
    ax.set_yticks(range(len(oa)), [_label(v / sa if _is_number([v]) else v) for v in oa], fontsize=8)
    ax.set_xlabel(lb, fontsize=9)
    ax.set_ylabel(la, fontsize=9)
    finite = values[np.isfinite(values)]
    span = float(finite.max() - finite.min()) if finite.size else 0.0
    decimals = int(min(max(np.ceil(-np.log10(span)) + 1, 0), 4)) if span > 0 else 0  # enough to tell cells apart
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):  # dark text on the light (high) end of viridis
            ax.text(j, i, f"{v:,.{decimals}f}", ha="center", va="center", fontsize=7,
                    color="k" if im.norm(v) > 0.6 else "w")
    fig.colorbar(im, ax=ax, label=_axis_label(ind))
    runs = cells.size()  # a grid's cell is one design point; a binned design's holds several
    noise = ""
    if design == "grid":  # the standard errors of a cell's mean and of a difference between two cells
        units = replication_word(d)
        se, se_diff = (v / div for v in cell_noise(d, ka.astype(str) + "|" + kb.astype(str)))
        noise = "".join([f"; standard error of a cell over the {units}: {_short(se)}" if np.isfinite(se) else "",
                         f", of a difference between two cells, paired within the {units}: {_short(se_diff)}"
                         if np.isfinite(se_diff) else ""])
    each = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}-{runs.max()}"
    title = (f"{indicator(ind).label} in {year}: mean of {each} runs a cell (over {over or 'seeds'})"
             f"{'; binned' if design != 'grid' else ''}{noise}")
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _label(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (int, float, np.integer, np.floating)):
        a = abs(float(v))
        if a >= 1e6:
            return f"{v / 1e6:.3g}m"
        if a >= 1e3:
            return f"{v / 1e3:.3g}k"
        return f"{v:.3g}"
    return str(v)


# --- calibration -------------------------------------------------------------------------------------------
def _short(v: float, _pos=None) -> str:
    """A tick label: 167,800 -> 167.8k, 7.2e11 -> 720bn; below 10,000 as they are."""
    a = abs(v)
    for above, size, suffix in ((1e9, 1e9, "bn"), (1e6, 1e6, "m"), (1e4, 1e3, "k")):  # 5,000 stays 5000
        if a >= above:
            return f"{v / size:.4g}{suffix}"
    return f"{v:.4g}"


def _few_short_ticks(ax) -> None:
    """Four x ticks at most, written short (no 1e11 offset, no run-together labels in a small panel)."""
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
    ax.tick_params(labelsize=7)


def calibration_figures(cal, post: dict, rows: list[dict], folder: Path) -> dict[str, Path]:
    """Targets against the posterior predictive, marginal posteriors, correlated pairs, distance by wave."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    # every target against its simulated distribution
    targets = cal.targets
    n = len(targets)
    cols = 4
    fig, axes = plt.subplots(math_ceil(n / cols), cols, figsize=(3.6 * cols, 2.5 * math_ceil(n / cols)), squeeze=False)
    pred = post["predictive"]
    for ax, (j, t) in zip(axes.flat, enumerate(targets)):
        ok = np.isfinite(pred[:, j])
        col = pred[ok, j]
        if col.size:
            spread = np.ptp(col) > 1e-9 * max(float(np.abs(col).max()), 1.0)
            ax.hist(col, bins=15 if spread else 1, weights=post["weights"][ok], color="tab:blue", alpha=0.6)
        ax.axvline(t.value, color="k", lw=2)
        lo, hi = {"lower": (t.value, max(t.value, float(col.max()) if col.size else t.value)),
                  "upper": (min(t.value, float(col.min()) if col.size else t.value), t.value)}.get(
            t.bound, (t.value - t.tolerance, t.value + t.tolerance))
        ax.axvspan(lo, hi, color="k", alpha=0.08)
        ax.set_title(f"{t.name} ({t.role})", fontsize=8)
        ax.set_xlabel(t.unit, fontsize=7)
        _few_short_ticks(ax)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Targets (black line; grey: where the target is met) against the posterior's runs (weighted "
                 "histogram)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    out["targets"] = _save(fig, folder / "targets.png")
    # marginal posteriors
    theta, weights = post["theta"], post["weights"]
    d = len(rows)
    fig, axes = plt.subplots(math_ceil(d / 4), 4, figsize=(14, 2.6 * math_ceil(d / 4)), squeeze=False)
    for ax, (j, r) in zip(axes.flat, enumerate(rows)):
        ax.hist(theta[:, j], bins=12, range=(r["low"], r["high"]), weights=weights, color="tab:green", alpha=0.7)
        ax.axvline(r["median"], color="k")
        if "point" in r:
            ax.axvline(r["point"], color="tab:red", ls="--")
        ax.set_xlim(r["low"], r["high"])
        ax.set_title(r["key"], fontsize=8)
        _few_short_ticks(ax)
    for ax in list(axes.flat)[d:]:
        ax.axis("off")
    fig.suptitle("Marginal posteriors over the prior ranges (weighted; black: median, red dashed: the baseline point)", fontsize=10)
    fig.tight_layout()
    out["marginals"] = _save(fig, folder / "marginals.png")
    # pairs of the most correlated parameters
    from .calibration_report import correlations

    corr = correlations(theta, weights)
    pairs = sorted(((abs(corr[i, j]), i, j) for i in range(d) for j in range(i + 1, d) if np.isfinite(corr[i, j])),
                   reverse=True)[:3]
    fig, axes = plt.subplots(1, max(len(pairs), 1), figsize=(4.5 * max(len(pairs), 1), 4), squeeze=False)
    for ax, (c, i, j) in zip(axes.flat, pairs):
        ax.scatter(theta[:, i], theta[:, j], s=10, alpha=0.7)
        ax.set_xlabel(rows[i]["key"], fontsize=8)
        ax.set_ylabel(rows[j]["key"], fontsize=8)
        ax.set_title(f"correlation {corr[i, j]:+.2f}", fontsize=9)
    fig.suptitle("The most correlated pairs in the posterior", fontsize=10)
    fig.tight_layout()
    out["pairs"] = _save(fig, folder / "pairs.png")
    # distance of each stage's runs: history-matching waves, then each ABC-SMC generation's particles
    fig, ax = plt.subplots(figsize=(7, 4))
    data, labels = [], []
    for k, w in enumerate(cal.waves, 1):
        dist, _ = cal.distances(w)
        data.append(np.clip(dist[np.isfinite(dist)], 0, 100))
        labels.append(f"hm {k}")
    for g, pop in enumerate(post["populations"]):
        data.append(pop.distance)
        labels.append(f"smc {g}")
        x = len(cal.waves) + g + 1
        ax.plot([x - 0.4, x + 0.4], [pop.epsilon] * 2, color="tab:red", lw=1.5)
    if post.get("emulated"):  # the posterior sample's runs, against the emulated search's last threshold
        e = post["emulated"]
        data.append(e["distance"][np.isfinite(e["distance"])])
        labels.append("posterior")
        x = len(data)
        ax.plot([x - 0.4, x + 0.4], [e["posterior"].epsilon] * 2, color="tab:red", lw=1.5)
    ax.boxplot(data, tick_labels=labels, showfliers=False)
    ax.tick_params(axis="x", labelsize=8, labelrotation=30)  # eleven or more labels side by side
    ax.set_xlabel("hm: history-matching wave (all runs); smc: ABC-SMC generation (its particles);\n"
                  "posterior: the posterior draws' runs; red: threshold", fontsize=8)
    ax.set_ylabel("distance to the targets (worst scaled miss)")
    ax.set_yscale("log")
    ax.set_title("The search closes in on the targets (history matching's distances drawn up to 100)", fontsize=10)
    fig.tight_layout()
    out["waves"] = _save(fig, folder / "waves.png")
    return out


def math_ceil(x: float) -> int:
    return int(np.ceil(x))


# --- sensitivity (analysis/sensitivity.py) --------------------------------------------------------------
ROLE_STYLE = {"lever": ("o", "tab:blue", "policy lever"), "uncertain": ("s", "tab:orange", "uncertain parameter")}


def _panels(n: int, width: float = 5.0, height: float = 4.0):
    cols = min(n, 2)
    fig, axes = plt.subplots(math_ceil(n / cols), cols, figsize=(width * cols, height * math_ceil(n / cols)),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _name_points(ax, named: list[tuple[str, float, float]], x_max: float, y_max: float) -> None:
    """Write each (name, x, y) next to its point, largest x first: in the first of eight places around it (near,
    then farther, right before left; the right-most names start on the left, inside the axes) whose text overlaps no
    point and no name already written and keeps right of and above the origin (its size estimated for 7-point type
    in a panel of about 300 x 220 points); a name set away from its point gets a thin line to it."""
    span = np.array([max(x_max, 1e-12), max(y_max, 1e-12)])
    boxes = [(x / span[0] - 3 / 300, y / span[1] - 3 / 220, x / span[0] + 3 / 300, y / span[1] + 3 / 220)
             for _, x, y in named]  # the points themselves
    for name, x, y in named:
        at, width = np.array([x, y]) / span, 3.9 * len(name) / 300
        sides = [(4, 3), (4, -9), (-4, 3), (-4, -9), (14, 12), (14, -18), (-14, 12), (-14, -18)]
        if x >= 0.8 * x_max:
            sides = [(-dx, dy) for dx, dy in sides]

        def box_of(dx, dy):
            left = at[0] + dx / 300 - (width if dx < 0 else 0.0)
            return left, at[1] + dy / 220, left + width, at[1] + (dy + 7) / 220

        placed = [(d, box_of(*d)) for d in sides]
        free = [(d, b) for d, b in placed if b[0] > 0 and b[1] > 0
                and not any(b[0] < c[2] and c[0] < b[2] and b[1] < c[3] and c[1] < b[3] for c in boxes)]
        (dx, dy), box = (free or placed)[0]
        boxes.append(box)
        line = dict(arrowstyle="-", lw=0.5, color="0.5", shrinkA=0, shrinkB=3) if abs(dx) > 4 else None
        ax.annotate(name, (x, y), fontsize=7, xytext=(dx, dy), textcoords="offset points",
                    ha="right" if dx < 0 else "left", arrowprops=line)


def sensitivity_figures(spec, table: pd.DataFrame, convergence: pd.DataFrame, noise: dict, folder: Path) -> list[Path]:
    """Morris: mu* against sigma per output (markers by role, mu*'s 95 % interval as a bar; a factor within twice
    its own seed noise, sensitivity.noise_levels, hollow and listed in a corner); Sobol: S1 and ST bars with 95 %
    intervals per output; both: the main index against sample size."""
    outs = list(spec.outputs)
    roles = dict(zip([f.name for f in spec.factors], spec.roles))
    paths = []
    if spec.method == "morris":
        fig, axes = _panels(len(outs))
        for ax, o in zip(axes, outs):
            t = table[table.output == o.name].pivot_table(index="factor", columns="index", values="value")
            half = table[(table.output == o.name) & (table["index"] == "mu_star")].set_index("factor").conf95
            # name the factors that stand out; those within twice their own seed noise (or, with the noise unknown,
            # under 5 % of the largest mu*) are hollow and listed in a corner instead
            own = np.asarray(noise.get(o.name, np.nan), float) * np.ones(len(spec.factors))
            known = bool(np.isfinite(own).all())
            level = dict(zip([f.name for f in spec.factors], 2 * own if known else [0.05 * t.mu_star.max()] * len(own)))
            small, named = [], []
            for fac, r in t.sort_values("mu_star", ascending=False).iterrows():
                marker, color, _ = ROLE_STYLE[roles[fac]]
                within = known and r.mu_star <= level[fac]
                ax.errorbar(r.mu_star, r.sigma, xerr=half[fac], fmt=marker, color=color, ms=6, capsize=2,
                            mfc="none" if within else color)
                if r.mu_star > level[fac]:
                    named.append((fac, r.mu_star, r.sigma))
                else:
                    small.append(fac)
            _name_points(ax, named, t.mu_star.max(), t.sigma.max())
            if small:
                what = "within twice their seed noise" if known else "near the origin"
                ax.text(0.98, 0.04, textwrap.fill(f"{what}: " + ", ".join(small), 45), transform=ax.transAxes,
                        ha="right", va="bottom", fontsize=6.5, color="0.3")
            ax.set_xlim(left=0)
            ax.set_ylim(bottom=0)
            ax.set_xlabel(f"mu* ({o.unit} per full range)", fontsize=8)
            ax.set_ylabel(f"sigma ({o.unit})", fontsize=8)
            ax.set_title(textwrap.fill(o.describe(), 60), fontsize=9)
        handles = [plt.Line2D([], [], marker=m, color=c, ls="", label=lab) for m, c, lab in ROLE_STYLE.values()]
        handles.append(plt.Line2D([], [], marker="|", ms=8, color="0.3", ls="-", lw=1,
                                  label="bar: 95 % bootstrap interval of mu*"))
        handles.append(plt.Line2D([], [], marker="o", mfc="none", color="0.3", ls="",
                                  label="hollow: within twice its own seed noise"))
        fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=8)
        fig.suptitle(f"Morris screening: {spec.samples} trajectories x {len(spec.seeds)} seeds", fontsize=10)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        paths.append(_save(fig, folder / "morris.png"))
    else:
        fig, axes = _panels(len(outs), height=0.45 * len(spec.factors) + 1.8)
        for ax, o in zip(axes, outs):
            t = table[table.output == o.name]
            names = [f.name for f in spec.factors]
            y = np.arange(len(names))
            for k, (idx, color) in enumerate((("S1", "tab:blue"), ("ST", "tab:red"))):
                s = t[t["index"] == idx].set_index("factor").reindex(names)
                ax.barh(y + (k - 0.5) * 0.38, s.value, height=0.36, xerr=s.conf95, color=color, alpha=0.8,
                        label={"S1": "first order S1", "ST": "total ST"}[idx], capsize=2)
            ax.set_yticks(y, [f"{n} ({roles[n]})" for n in names], fontsize=7)
            ax.axvline(0, color="0.5", lw=0.6)
            ax.set_xlabel("share of the output's variance", fontsize=8)
            ax.set_title(textwrap.fill(o.describe(), 60), fontsize=9)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False, fontsize=8)
        fig.suptitle(f"Sobol indices, 95 % bootstrap intervals: {spec.samples} base samples x {len(spec.seeds)} seeds",
                     fontsize=10)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        paths.append(_save(fig, folder / "sobol.png"))
    fig, axes = _panels(len(outs), height=3.6)
    for ax, o in zip(axes, outs):
        c = convergence[convergence.output == o.name]
        for fac, g in c.groupby("factor", sort=False):
            g = g.sort_values("samples")
            marker, color, _ = ROLE_STYLE[roles[fac]]
            ax.plot(g.samples, g.value, marker=marker, ms=4, lw=1, label=fac)
        ax.set_xlabel("trajectories" if spec.method == "morris" else "base samples", fontsize=8)
        ax.set_xticks(sorted(c.samples.unique()))  # the sample sizes measured, not 2.25 trajectories
        ax.set_ylabel(("mu* (" + o.unit + ")") if spec.method == "morris" else "ST", fontsize=8)
        ax.set_title(textwrap.fill(o.describe(), 60), fontsize=9)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, frameon=False, fontsize=7)
    sizes = sorted(convergence.samples.unique())
    fig.suptitle("Convergence: the main index on " + ", ".join(f"{int(n)}" for n in sizes)
                 + (" trajectories" if spec.method == "morris" else " base samples")
                 + " (about a quarter, a half and all of the sample)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    paths.append(_save(fig, folder / "convergence.png"))
    return paths


# --- scenario discovery (analysis/discovery.py) ---------------------------------------------------------
def discovery_figures(spec, cases: pd.DataFrame, box, folder: Path) -> list[Path]:
    """The coverage-density trade-off of PRIM's peeling trajectory (the chosen box marked) and the chosen
    box's limits on each restricted factor's full range; without a box, the distribution of the outcome."""
    paths = []
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    if box is None:
        ax.hist(cases[spec.interest_output], bins=30, color="0.6")
        ax.axvline(spec.interest_value, color="tab:red", label=f"{spec.interest_side} {spec.interest_value:,.6g}")
        ax.set_xlabel(spec.interest_output, fontsize=8)
        ax.set_ylabel("design points")
        ax.legend(frameon=False, fontsize=8)
        ax.set_title("No box: the cases of interest are none or all of the points", fontsize=10)
    else:
        t = box.trajectory
        sc = ax.scatter(t.coverage, t.density, c=t.res_dim, cmap="viridis", s=22, zorder=3)
        ax.plot(t.coverage, t.density, color="0.7", lw=0.8, zorder=2)
        c = t.loc[box.chosen]
        ax.scatter([c.coverage], [c.density], s=160, facecolors="none", edgecolors="tab:red", lw=1.5, zorder=4,
                   label=f"chosen box (step {box.chosen})")
        ax.axhline(spec.prim["threshold"], color="tab:red", ls=":", lw=1, label="density threshold")
        bar = fig.colorbar(sc, ax=ax, label="restricted factors")
        bar.set_ticks(sorted(set(int(v) for v in t.res_dim)))
        ax.set_xlabel("coverage (share of the cases of interest inside the box)", fontsize=8)
        ax.set_ylabel("density (share of the box's points that are cases)", fontsize=8)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.legend(frameon=False, fontsize=8, loc="lower left")
        ax.set_title(textwrap.fill(f"PRIM peeling trajectory: {spec.interest_text()}", 70), fontsize=9)
    fig.tight_layout()
    paths.append(_save(fig, folder / "tradeoff.png"))
    if box is not None:
        from .discovery import limit_text

        lim = box.limits
        fig, ax = plt.subplots(figsize=(7, 0.75 * max(len(lim), 1) + 1.4))
        for i, (_, r) in enumerate(lim.iterrows()):
            col = cases[r.factor]
            ax.barh(i, 1.0, color="0.88", height=0.5)
            if isinstance(r["min"], set):
                cats = sorted(map(str, col.astype(str).unique()))
                ax.text(0.5, i, f"kept: {limit_text(r)} (of {', '.join(cats)})", ha="center", va="center", fontsize=7)
                continue
            lo_all, hi_all = float(col.min()), float(col.max())
            span = hi_all - lo_all or 1.0
            a, b = (float(r["min"]) - lo_all) / span, (float(r["max"]) - lo_all) / span
            ax.barh(i, b - a, left=a, color="tab:red", alpha=0.7, height=0.5)
            ax.text((a + b) / 2, i, limit_text(r), ha="center", va="center", fontsize=7, color="white")
            ax.text(0, i + 0.4, f"{lo_all:,.4g}", fontsize=6, ha="left", va="center", color="0.4")
            ax.text(1, i + 0.4, f"{hi_all:,.4g}", fontsize=6, ha="right", va="center", color="0.4")
        ax.set_yticks(range(len(lim)), list(lim.factor), fontsize=8)
        ax.set_ylim(len(lim) - 0.4, -0.5)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xticks([])
        ax.set_xlabel("each factor's range in the design (grey), the box (red)", fontsize=8)
        t = box.trajectory.loc[box.chosen]
        ax.set_title(f"The chosen box: coverage {t.coverage:.0%}, density {t.density:.0%}", fontsize=9)
        fig.tight_layout()
        paths.append(_save(fig, folder / "box.png"))
    return paths


# --- optimisation (analysis/optimise.py) ------------------------------------------------------------------
def optimisation_figures(spec, table: pd.DataFrame, front: pd.DataFrame, folder: Path, over: str = "",
                         check: pd.DataFrame | None = None) -> list[Path]:
    """Every pair of objectives: all candidates (grey; infeasible ones as crosses), the front (red), the
    historical mix (a black star), each on the search's runs; and, from ``check`` (optimise.check_table), the
    front's mixes and the historical mix on the fresh runs (open markers, each joined to its search point)."""
    objs = [n for n, _ in spec.objectives]
    pairs = [(objs[i], objs[j]) for i in range(len(objs)) for j in range(i + 1, len(objs))]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.6), squeeze=False)
    cand = table[table.generation >= 0]
    hist = table[table.generation == -1].iloc[0]
    outputs = {o.name: o for o in spec.outputs}
    fresh = (check.pivot(index="mix", columns="output", values="check_mean")
             if check is not None and not check.empty else None)
    for ax, (a, b) in zip(axes.flat, pairs):
        ok, bad = cand[cand.feasible], cand[~cand.feasible]
        ax.scatter(ok[a], ok[b], s=14, color="0.6", label="candidates")
        if len(bad):
            ax.scatter(bad[a], bad[b], s=14, marker="x", color="0.75", label="over the budget")
        if len(front):
            f = front.sort_values(a)
            ax.plot(f[a], f[b], "o-", color="tab:red", ms=5, lw=1, label="front")
        ax.scatter([hist[a]], [hist[b]], marker="*", s=220, color="black", zorder=5, label="historical mix")
        if fresh is not None and len(fresh) > 1:
            for m, r in fresh.iterrows():
                search = hist if m == 0 else front.iloc[m - 1]
                ax.plot([search[a], r[a]], [search[b], r[b]], ":", color="0.35" if m == 0 else "tab:red", lw=0.8)
            ax.scatter(fresh[a].iloc[1:], fresh[b].iloc[1:], s=30, facecolors="none", edgecolors="tab:red",
                       zorder=6, label="front, fresh runs")
            ax.scatter(fresh[a].iloc[:1], fresh[b].iloc[:1], marker="*", s=220, facecolors="none",
                       edgecolors="black", zorder=6, label="historical, fresh runs")
        sense = dict(spec.objectives)
        ax.set_xlabel(textwrap.fill(f"{outputs[a].describe()} ({outputs[a].unit}; {sense[a]})", 60), fontsize=8)
        ax.set_ylabel(textwrap.fill(f"{outputs[b].describe()} ({outputs[b].unit}; {sense[b]})", 45), fontsize=8)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize=8)
    budget = ""
    if spec.budget:
        o = outputs[spec.budget[0]]
        budget = f"; budget: {o.describe().lower()} at most {_short(spec.budget[1])} {o.unit}"
    fig.suptitle(textwrap.fill(f"NSGA-II: {spec.population} candidates x {spec.generations} generations{budget}; "
                               f"each point the mean over {over or 'the search seeds'}; open markers: the same mixes "
                               f"on {spec.check_seeds} fresh runs (report.md gives the gains' intervals); axes not "
                               "from zero", 55 * len(pairs)), fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return [_save(fig, folder / "front.png")]

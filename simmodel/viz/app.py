"""The SolaraViz page: watch the province transform month by month and pull the policy levers.

    simmodel serve                      # http://127.0.0.1:8765
    solara run simmodel/viz/app.py      # the same page

The page starts on the calibrated baseline (or the scenario in ``SIMMODEL_SCENARIO``, which
``simmodel serve --scenario`` sets). The controls are derived from the parameter definitions
(simmodel/params.py, ``lever=True``), not listed here, and start at the scenario's values; the model
is the TransformationModel the CLI runs. The charts read the model's Mesa
DataCollector (province-wide headline indicators, monthly) and its firm arrays; the picture of the
firms is a fixed sample laid out by city and sector, so it costs the same at any scale.

Each figure is kept with its model and redrawn in part: axes, ticks and titles are drawn again only
when an axis range grows (``Frames``); every step draws only the lines, bars, dots and legends.

The page's components are plain functions of the model: SolaraViz wraps them so that they redraw
after every step (a function already decorated with @solara.component would not be wrapped).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz, solara_viz

from simmodel.analysis import scenarios
from simmodel.analysis.targets import reported
from simmodel.model import TransformationModel
from simmodel.model.indicators import indicator
from simmodel.model.recorder import values_at
from simmodel.model.stages import STAGE_COLOURS, STAGE_LABELS
from simmodel.params import PARAMS, Params, month_index, month_label  # noqa: F401

TITLE = "SME intelligent transformation in Zhejiang (simmodel)"
STAGE_NAMES = STAGE_LABELS
SAMPLE_PER_CELL = 12


def scenario_params() -> Params:
    """The parameters the page starts from: the calibrated baseline, or ``SIMMODEL_SCENARIO``."""
    return scenarios.load(os.environ.get("SIMMODEL_SCENARIO") or "baseline").params


def model_params(base: Params | None = None) -> dict:
    """SolaraViz controls for every lever parameter, at the scenario's values, plus the seed."""
    base = base or scenario_params()
    out = {"seed": {"type": "SliderInt", "value": 1, "min": 1, "max": 100, "step": 1, "label": "Seed"}}
    for p in PARAMS:
        if not p.lever:
            continue
        p = p.__class__(**{**p.__dict__, "default": base[p.key]})  # the control starts at the scenario's value
        label = p.label or p.key
        if p.kind == "bool":
            out[p.name] = {"type": "Checkbox", "value": p.default, "label": label}
        elif p.kind == "month":  # a year slider (what Reset makes of it: control_values)
            lo, hi, step = p.ui or (int(p.lo[:4]), int(p.hi[:4]), 1)
            out[p.name] = {"type": "SliderInt", "value": int(p.default[:4]), "min": lo, "max": hi, "step": step,
                           "label": label}
        elif p.kind in ("int", "float"):
            lo, hi, step = p.ui or (p.lo, p.hi, (p.hi - p.lo) / 100)
            kind = "SliderInt" if p.kind == "int" else "SliderFloat"
            out[p.name] = {"type": kind, "value": p.default, "min": lo, "max": hi, "step": step, "label": label}
        elif p.kind == "choice":
            out[p.name] = {"type": "Select", "value": p.default, "values": list(p.choices), "label": label}
    return out


def control_values(controls: dict) -> dict:
    """The controls' values as parameter values. A month's control is a year slider: moved, it means that year's
    January; still at the scenario's year, it keeps the scenario's month (the shared platforms' 2019-11, which a
    Reset would otherwise move to 2019-01)."""
    out = dict(controls)
    for p in PARAMS:
        if p.lever and p.kind == "month" and out.get(p.name) == int(BASE[p.key][:4]):
            del out[p.name]
    return out


def reported_productivity() -> pd.DataFrame:
    """The reported labour productivity of above-size firms (calibration/targets.toml)."""
    rows = [(year, value) for year, value, _ in reported("labour_productivity_above")]
    return pd.DataFrame(rows, columns=["year", "value"])


DPI = 80  # figures are redrawn every step: fixed margins and a modest resolution keep that fast


def _series(model: TransformationModel) -> pd.DataFrame:
    """The DataCollector's monthly headline indicators, indexed by decimal year (2013.04 = Jan 2013)."""
    df = model.datacollector.get_model_vars_dataframe()
    df.index = 2013 + (np.arange(len(df)) + 0.5) / 12
    return df


class Frames:
    """A matplotlib figure drawn in full only when its axes limits change. Otherwise the stored
    background (axes, ticks, titles, legends: most of the drawing time) is restored and only the
    artists that change are drawn on it. Each frame is a PNG (bytes)."""

    def __init__(self, fig: Figure):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.fig, self.canvas = fig, FigureCanvasAgg(fig)
        self.key, self.background = None, None

    def png(self, dynamic: list, key) -> bytes:
        import io

        from PIL import Image

        if key != self.key:  # limits changed (or the first frame): draw the static parts anew
            for a in dynamic:
                a.set_visible(False)
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
            for a in dynamic:
                a.set_visible(True)
            self.key = key
        else:
            self.canvas.restore_region(self.background)
        renderer = self.canvas.get_renderer()
        for a in dynamic:
            a.draw(renderer)
        out = io.BytesIO()
        Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba()).save(
            out, format="png", compress_level=1)
        return out.getvalue()


def _nice(v: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 x a power of ten that is >= v (v > 0)."""
    e = 10.0 ** np.floor(np.log10(v))
    return float(e * next(m for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * e >= v * (1 - 1e-9)))


def _grow(ax, values: np.ndarray, floor: float = 0.0) -> None:
    """Widen (never narrow) the y-axis to hold ``values`` with some headroom, in round numbers."""
    lo, hi = ax.get_ylim()
    vmax = float(np.nanmax(values)) if len(values) else hi
    if vmax > hi:
        ax.set_ylim(lo, max(_nice(1.15 * vmax), floor))
    vmin = float(np.nanmin(values)) if len(values) else lo
    if vmin < lo:
        e = 10.0 ** np.floor(np.log10(0.85 * vmin)) if vmin > 0 else 0.0
        ax.set_ylim(-_nice(-1.15 * vmin) if vmin < 0 else (np.floor(0.85 * vmin / e) * e if e else 0.0),
                    ax.get_ylim()[1])


# (panel, indicator, legend, colour) of the line charts; panel 0 is the stacked stage shares.
# Values are shown in each indicator's display unit (indicators.py).
SERIES = (
    (1, "share_transformed_above", "transformed (stage >= 1 or cloud)", "tab:blue"),
    (1, "share_automated_above", "automated (stage >= 1)", "tab:green"),
    (1, "share_digitized_above", "digitized (stage >= 2)", "tab:orange"),
    (1, "share_cloud_above", "on the cloud", "tab:purple"),
    (2, "cloud_firms", None, "tab:purple"),
    (3, "labour_productivity_above", "model", "tab:blue"),
    (4, "subsidy_spent", "subsidies paid (cumulative)", "tab:blue"),
    (4, "fund_remaining", "special fund left", "tab:orange"),
    (5, "queue_length", "projects waiting for a provider", "tab:blue"),
    (5, "loans_issued", "bank loans granted / month", "tab:orange"),
    (5, "loans_rejected", "loans refused / month", "tab:green"),
    (5, "shared_users", "firms using shared factories", "tab:brown"),
)
PANEL_TITLES = ("Firms by stage (all sizes), %", "Above-size firms, %",
                f"{indicator('cloud_firms').label}, {indicator('cloud_firms').display_unit}",
                f"{indicator('labour_productivity_above').label}, {indicator('labour_productivity_above').display_unit}",
                f"Subsidies and the special fund, {indicator('subsidy_spent').display_unit}",
                "Queue, loans, shared-factory users (firms)")


def _series_figure(model: TransformationModel) -> dict:
    """The six panels with their static parts drawn up front: titles, legends, reported points."""
    from matplotlib.patches import Patch

    fig = Figure(figsize=(11, 6.2), dpi=DPI)
    fig.subplots_adjust(left=0.05, right=0.99, top=0.95, bottom=0.06, wspace=0.22, hspace=0.3)
    axes = list(fig.subplots(2, 3).flat)
    end = 2013 + (model.end_month + 1) / 12
    for ax, title in zip(axes, PANEL_TITLES):
        ax.set_title(title, fontsize=9)
        ax.set_xlim(2013, end)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[:2]:
        ax.set_ylim(0, 100)
    stages = [Patch(color=c, label=n) for c, n in zip(STAGE_COLOURS, STAGE_NAMES)]
    axes[0].legend(handles=stages[::-1], fontsize=6, loc="lower left")  # as stacked: the top stage first
    lines = [axes[k].plot([], [], color=c, label=label)[0] for k, _, label, c in SERIES]
    rep = reported_productivity()
    axes[3].plot(rep.year + 0.5, rep.value / 1e3, "ko", ms=5, label="reported")
    axes[3].set_ylim(10 * np.floor(0.08 * rep.value.min() / 1e3), _nice(1.2 * rep.value.max() / 1e3))
    for k in (1, 3, 4, 5):
        axes[k].legend(fontsize=7, loc="upper left")
    waiting = axes[0].text(0.5, 0.5, "not started: press Step", ha="center", va="center",
                           transform=axes[0].transAxes, color="grey")
    legends = [ax.get_legend() for ax in axes if ax.get_legend() is not None]  # drawn over the data
    return {"frames": Frames(fig), "axes": axes, "lines": lines, "stack": [], "waiting": waiting, "legends": legends}


def _number(v: float) -> str:
    """A headline number: 4,915 firms, not 4,915.0; 182.9 k yuan/worker, 35.3 %."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.1f}"


def _setting(v) -> str:
    """A lever's value as the page states it: on/off, 0.3, 2,000,000, 2015-01."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (int, float)):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"
    return str(v)


def moved_levers(model: TransformationModel) -> str:
    """Which levers the model was built with away from the page's scenario: what Reset took from the controls."""
    moved = [f"{p.label or p.key} {_setting(model.params[p.key])}" for p in PARAMS
             if p.lever and model.params[p.key] != BASE[p.key]]
    return ("Levers moved from the scenario: " + "; ".join(moved)) if moved else "Every lever at the scenario's value"


def DateAndHeadline(model: TransformationModel):
    """The month shown as a date, and the headline figures of that month (plain HTML: no CDN assets)."""
    agents = (f"{model.firms.n:,} firm agents for {model.params['population.n_firms']:,} firms "
              f"(scale {model.params['run.scale']}, seed {model.seed})")
    if model.month < 0:
        solara.HTML(tag="div", unsafe_innerHTML=(
            f"<h2>{month_label(0)} (start)</h2><p>{agents}. Press <b>Step</b> or <b>&#9654;</b> to simulate month "
            f"by month to {model.params['run.end']}.</p><p>{moved_levers(model)}</p>"))
        return
    shown = ("share_transformed_above", "share_automated_above", "share_digitized_above", "share_cloud_above",
             "cloud_firms", "labour_productivity_above",
             "fund_remaining", "queue_length")
    items = [f"{indicator(n).label}: <b>{_number(indicator(n).shown(model.latest(n)))} {indicator(n).display_unit}</b>"
             for n in shown]
    items += [agents, moved_levers(model)]
    solara.HTML(tag="div", unsafe_innerHTML=f"<h2>{model.date}</h2><ul>" + "".join(f"<li>{i}</li>" for i in items)
                + "</ul>")


def TimeSeries(model: TransformationModel):
    """Six panels of the province over time."""
    solara.Image(series_png(model), format="png")


def series_png(model: TransformationModel) -> bytes:
    """The six panels at the model's month, as a PNG."""
    st = getattr(model, "_viz_series", None)
    if st is None:
        st = model._viz_series = _series_figure(model)
    axes, dynamic = st["axes"], []
    for coll in st["stack"]:
        coll.remove()
    st["stack"] = []
    st["waiting"].set_visible(model.month < 0)  # part of the background until the first step
    if model.month >= 0:
        df = _series(model)
        x = df.index.to_numpy()
        st["stack"] = axes[0].stackplot(x, *[100 * df[f"share_stage_{k}"] for k in range(5)], colors=STAGE_COLOURS)
        for line, (k, col, _, _) in zip(st["lines"], SERIES):
            y = (df[col].cumsum() if col == "subsidy_spent" else df[col]).to_numpy() / indicator(col).scale
            line.set_data(x, y)
            _grow(axes[k], y)
        dynamic += st["stack"] + st["lines"] + st["legends"]
    key = (model.month < 0, *(ax.get_ylim() for ax in axes))
    return st["frames"].png(dynamic, key)


def firm_sample(model: TransformationModel) -> np.ndarray:
    """Up to SAMPLE_PER_CELL agents of each city x sector cell (a fixed draw, not the model's streams)."""
    cached = getattr(model, "_viz_sample", None)
    if cached is None:
        rng = np.random.default_rng(0)
        cell = model.firms.cell
        picks = [rng.permutation(np.flatnonzero(cell == c))[:SAMPLE_PER_CELL] for c in range(model.n_cells)]
        cached = model._viz_sample = np.concatenate(picks)
    return cached


def _province_figure(model: TransformationModel) -> dict:
    """City bars and the sample of firms laid out by city and sector; labels and positions are fixed."""
    f, t = model.firms, model.tables
    fig = Figure(figsize=(11, 4.6), dpi=DPI)
    fig.subplots_adjust(left=0.09, right=0.99, top=0.92, bottom=0.2, wspace=0.45)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.4])
    n_c = t.n_cities
    bars = ax1.barh(range(n_c), np.zeros(n_c)).patches
    ax1.set_yticks(range(n_c), t.cities, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlim(0, 100)
    ax1.set_title("Cities: above-size firms transformed, %", fontsize=9)
    ax1.grid(axis="x", alpha=0.3)
    idx = firm_sample(model)
    side = int(np.ceil(np.sqrt(SAMPLE_PER_CELL)))
    pos = np.zeros(idx.size, int)
    order = np.argsort(f.cell[idx], kind="stable")
    first = np.searchsorted(f.cell[idx][order], f.cell[idx][order])
    pos[order] = np.arange(idx.size) - first  # position of each sampled firm within its cell
    x = f.city[idx] + (pos % side + 0.5) / side * 0.8 - 0.4
    y = f.sector[idx] + (pos // side + 0.5) / side * 0.8 - 0.4
    dots = ax2.scatter(x, y, s=9, linewidths=0.4)
    ax2.set_xticks(range(n_c), t.cities, rotation=60, fontsize=7)
    ax2.set_yticks(range(t.n_sectors), [s.split(" (")[0] for s in t.sector_labels], fontsize=7)
    ax2.set_xlim(-0.6, n_c - 0.4)
    ax2.set_ylim(t.n_sectors - 0.4, -0.6)
    ax2.set_title(f"Sample of firms ({SAMPLE_PER_CELL} per city x sector), colour: stage, outline: cloud",
                  fontsize=8)
    date = fig.text(0.01, 0.97, "", fontsize=11, fontweight="bold", va="top")
    return {"frames": Frames(fig), "bars": bars, "dots": dots, "date": date, "idx": idx}


def Province(model: TransformationModel):
    """The 11 cities coloured by share transformed, and a sample of firms by city and sector."""
    solara.Image(province_png(model), format="png")


def province_png(model: TransformationModel) -> bytes:
    """The city bars and the sample of firms at the model's month, as a PNG."""
    st = getattr(model, "_viz_province", None)
    if st is None:
        st = model._viz_province = _province_figure(model)
    f, n_c = model.firms, model.tables.n_cities
    share = (values_at(model.recorder, model.month, ("share_transformed_above",), "city")["share_transformed_above"]
             if model.month >= 0 else np.zeros(n_c))
    import matplotlib

    colours = matplotlib.colormaps["viridis"](share)
    for bar, s, c in zip(st["bars"], share, colours):
        bar.set_width(100 * s)
        bar.set_color(c)
    idx = st["idx"]
    st["dots"].set_facecolors(np.array(STAGE_COLOURS)[f.stage[idx]])
    st["dots"].set_edgecolors(np.where(f.on_cloud[idx], "k", "none"))
    st["date"].set_text(model.date)
    return st["frames"].png([*st["bars"], st["dots"], st["date"]], key=0)


def _full_width_layout(num_components: int) -> list[dict]:
    """Stack the page's components at full width (Mesa's default puts two side by side, too small
    for these figures). Heights are in grid rows."""
    heights = [8, 15, 12] + [10] * max(0, num_components - 3)
    y = [sum(heights[:i]) for i in range(num_components)]
    return [{"i": i, "w": 12, "h": heights[i], "moved": False, "x": 0, "y": y[i]} for i in range(num_components)]


solara_viz.make_initial_grid_layout = _full_width_layout  # looked up when the page lays itself out


BASE = scenario_params()


class ScenarioModel(TransformationModel):
    """The TransformationModel of the page's scenario. SolaraViz rebuilds the model on Reset by calling
    its class with the controls' values as keywords; this class applies them to the scenario's
    parameters instead of the code defaults."""

    def __init__(self, seed: int = 1, **kwargs):
        super().__init__(seed=seed, params=BASE.replace(control_values(kwargs)))


def make_model(**kwargs) -> TransformationModel:
    """The scenario's model with the page's controls applied."""
    return ScenarioModel(**kwargs)


model = solara.reactive(make_model())  # shared by the page's sessions; Reset puts a new model here
page = SolaraViz(
    model,
    components=[(DateAndHeadline, 0), (TimeSeries, 0), (Province, 0)],
    model_params=model_params(BASE),
    name=TITLE,
    play_interval=50,
)
page  # noqa: B018  (solara run serves the module's `page`)

__all__ = ["page", "model_params", "make_model", "TITLE", "month_index"]

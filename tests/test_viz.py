"""The visual server, without a browser: render the page, step it, reset it with a changed control."""

import hashlib
import re

import pytest

solara = pytest.importorskip("solara")
import ipyvuetify as v  # noqa: E402
import ipywidgets  # noqa: E402

from simmodel.params import PARAMS  # noqa: E402


@pytest.fixture(scope="module")
def page():
    from simmodel.viz import app
    box, rc = solara.render(solara.AppLayout(children=[app.page]), handle_error=False)
    return app, rc


def _button(rc, label):
    return next(b for b in rc.find(v.Btn).widgets if b.children == [label])


def _images(rc):
    return [hashlib.md5(i.value).hexdigest() for i in rc.find(ipywidgets.Image).widgets]


def test_controls_are_derived_from_the_parameter_definitions(page):
    app, rc = page
    labels = {s.label for s in rc.find(v.Slider).widgets} | {c.label for c in rc.find(v.Checkbox).widgets}
    for p in PARAMS:
        if p.lever:
            assert p.label in labels, p.key
    assert set(app.model_params()) == {"seed"} | {p.name for p in PARAMS if p.lever}


def test_step_advances_the_date_and_redraws_the_charts(page):
    app, rc = page
    _button(rc, "Reset").click()
    before = _images(rc)
    assert len(before) == 2
    _button(rc, "Step").click()
    _button(rc, "Step").click()
    assert app.model.value.month == 1 and app.model.value.date == "2013-02"
    after = _images(rc)
    assert all(a != b for a, b in zip(before, after))


def test_reset_builds_a_model_with_the_changed_control(page):
    app, rc = page
    slider = next(s for s in rc.find(v.Slider).widgets if s.label == "Robot purchase subsidy rate")
    slider.v_model = 0.3
    year = next(s for s in rc.find(v.Slider).widgets if s.label == "Cloud action starts (year)")
    year.v_model = 2015
    _button(rc, "Reset").click()
    m = app.model.value
    assert m.month == -1
    assert m.params["cities.purchase_rate"] == 0.3 and m.params["cloud.action_start"] == "2015-01"
    assert m.cities[0].rule(0)[0] == 0.3  # a city without its own rule
    # the start page says which levers the new model was built with away from the scenario
    text = " ".join(h.unsafe_innerHTML for h in rc.find(solara.widgets.HTML).widgets)
    assert "Levers moved from the scenario: " in text, text
    moved = re.search(r"Levers moved from the scenario: (.*?)</", text).group(1).split("; ")
    assert "Robot purchase subsidy rate 0.3" in moved and "Cloud action starts (year) 2015-01" in moved


@pytest.mark.parametrize("draw,cache", [("series_png", "_viz_series"), ("province_png", "_viz_province")])
def test_a_partly_redrawn_frame_shows_what_a_full_redraw_shows(draw, cache):
    """Frames redraw only what changes over a stored background; the picture must still be right."""
    import io

    import numpy as np
    from PIL import Image

    from simmodel.viz import app

    pixels = lambda png: np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)  # noqa: E731
    m = app.make_model(scale=0.01, seed=3)
    frames = []
    for _ in range(30):
        m.step()
        frames.append(getattr(app, draw)(m))  # background kept, axis ranges grow along the way
    getattr(m, cache)["frames"].key = None  # the same figure, its background drawn anew from the current state
    full = pixels(getattr(app, draw)(m))
    differs = lambda png: np.mean(np.any(pixels(png) != full, axis=2))  # noqa: E731
    assert differs(frames[-1]) == 0  # nothing stale in the stored background
    # while a frame a year old is visibly different (measured 3.8 % of the pixels for the series, 6.7 % for the map,
    # seed 3): the comparison can see a year's change
    assert differs(frames[-13]) > 0.01


def test_the_page_starts_on_the_calibrated_baseline():
    from simmodel.analysis import scenarios
    from simmodel.viz import app
    base = scenarios.load("baseline").params
    m = app.make_model(scale=0.01)
    assert m.params["decision.intercept"] == base["decision.intercept"] != -8.0
    controls = app.model_params()
    assert controls["special_fund_budget"]["value"] == base["government.special_fund_budget"]
    rebuilt = type(m)(seed=2, purchase_rate=0.3)  # how SolaraViz rebuilds the model on Reset
    assert rebuilt.params["beliefs.prior_mean"] == base["beliefs.prior_mean"] and rebuilt.params[
        "cities.purchase_rate"] == 0.3


def test_every_control_starts_at_the_scenarios_value_not_the_codes_default():
    """`simmodel serve --scenario NAME` shows NAME's levers: the controls of the no-policy scenario start with
    its instruments off (the code's defaults have them on), and every other control at that scenario's value."""
    from simmodel.analysis import scenarios
    from simmodel.viz import app
    scenario = scenarios.load("no_policy").params
    controls = app.model_params(scenario)
    levers = [p for p in PARAMS if p.lever]
    assert any(scenario[p.key] != p.default for p in levers)  # the scenario moves some levers
    for p in levers:
        want = int(scenario[p.key][:4]) if p.kind == "month" else scenario[p.key]  # a month's control is its year
        assert controls[p.name]["value"] == want, p.key
    assert controls["special_fund_enabled"]["value"] is False and controls["purchase_enabled"]["value"] is False


@pytest.mark.parametrize("scenario", ["baseline", "shared_factories", "late_programme"])
def test_a_reset_with_no_control_moved_rebuilds_the_scenario(scenario, monkeypatch):
    """The page of `simmodel serve --scenario NAME`: Reset with every control where it started builds NAME's
    parameters exactly. The year controls show a month as its year, and the shared platforms open in 2019-11: an
    untouched year control must not move them to 2019-01."""
    from simmodel.analysis import scenarios
    from simmodel.viz import app
    base = scenarios.load(scenario).params
    monkeypatch.setattr(app, "BASE", base)
    controls = {name: c["value"] for name, c in app.model_params(base).items() if name != "seed"}
    rebuilt = app.make_model(**controls).params  # what Reset calls with the controls' values
    for p in PARAMS:
        if p.lever:
            assert rebuilt[p.key] == base[p.key], p.key
    assert base["shared.platforms_start"] == "2019-11"
    moved = app.make_model(**{**controls, "platforms_start": 2021, "scale": 0.004})  # that year's January
    assert moved.params["shared.platforms_start"] == "2021-01"


def test_the_seed_control_reaches_the_model():
    """Reset builds the model with the page's seed: the firms of seeds 5 and 6 are those the CLI's model draws
    for the same seeds, and differ between them."""
    import numpy as np

    from simmodel.model import TransformationModel
    from simmodel.viz import app
    for seed in (5, 6):
        page_model, cli_model = app.make_model(seed=seed, scale=0.01), TransformationModel.from_scenario(
            "baseline", seed=seed, scale=0.01)
        assert page_model.seed == seed
        for name in ("cash", "productivity", "stage"):
            assert np.array_equal(getattr(page_model.firms, name), getattr(cli_model.firms, name)), (seed, name)
    a, b = app.make_model(seed=5, scale=0.01).firms, app.make_model(seed=6, scale=0.01).firms
    assert not np.array_equal(a.cash, b.cash)

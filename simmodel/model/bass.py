"""Docking against the analytic Bass curve (docs/ODD.md 3.4.11; ``run.decision_rule = "bass"``)."""

from __future__ import annotations

import numpy as np

from . import libm



def bass_adoption(model) -> None:
    """Hazard p + q x (adopted share of the firm's cell), nothing else: economics and policy off.

    The cell's share is blended with the sector's as for the logit rule (beliefs.cross_cell_weight;
    1 makes each sector province-wide one cell). It is taken at mid-month (a predictor step), so
    monthly steps track the continuous Bass curve closely.
    """
    f, r = model.firms, model.params.run
    u = model.rngs["decisions"].random(f.n, dtype=np.float32)
    share = model.peers.share(model.month)[:, 1]  # the cell's adopted share (blended with its sector)
    mid = share + (1 - share) * (r.bass_p + r.bass_q * share) / 24.0
    hazard = 1.0 - libm.exp(-(r.bass_p + r.bass_q * mid) / 12.0)
    new = ((f.stage == 0) & (u < hazard[f.cell])).nonzero()[0]
    f.stage[new] = 1
    f.update_keys(new)
    model.peers.stages_changed()
    model.flow("projects_completed", new)

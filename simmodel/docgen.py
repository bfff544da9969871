"""Regenerate the generated parts of the docs from their one definition:

    python -m simmodel.docgen        # the parameter table of docs/ODD.md, and docs/indicators.md

Tests fail when either is out of step with the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .model.indicators import dictionary_markdown
from .params import PARAMS, table_rows

START, END = "<!-- params:start -->", "<!-- params:end -->"
DOCS = Path(__file__).resolve().parents[1] / "docs"
ODD = DOCS / "ODD.md"
INDICATORS = DOCS / "indicators.md"
INDICATORS_HEAD = """# Output indicators

Generated from `simmodel/model/indicators.py` by `python -m simmodel.docgen` (also `simmodel indicators`);
a test keeps it in step. Every indicator is written yearly (province, cities, sector groups, as its levels
say) and monthly (province and cities) in the tidy tables (`yearly.csv`, `monthly.csv`: one row per
seed, period, region, sector, indicator). Money flows are yuan in the period; stocks are at the period's
end; labour productivity is yuan per worker per year.

"""


def params_markdown() -> str:
    """The parameter table: each key's default, the value the calibrated baseline runs where it differs (from
    calibration/fitted.toml or experiments/scenarios/baseline.toml), and, for the parameters `simmodel calibrate`
    fits, their prior range (calibration/priors.toml, the one list of what is calibrated)."""
    from .analysis.calibrate import load_priors
    from .analysis.scenarios import baseline

    base = baseline().params
    priors = {p.key: p for p in load_priors().parameters}
    lines = ["| key | default | calibrated baseline | unit | allowed | source | meaning |",
             "|---|---|---|---|---|---|---|"]
    for r, p in zip(table_rows(), PARAMS):
        v = base[p.key]
        runs = "" if v == p.default else f"{v:.6g}" if isinstance(v, float) else str(v)
        source = r.source
        if p.key in priors:
            lo, hi = priors[p.key].low, priors[p.key].high
            source += f"; calibrated (prior {lo:g} to {hi:g}, calibration/priors.toml)"
        lines.append(f"| `{r.key}` | {r.default} | {runs} | {r.unit} | {r.allowed} | {source} | {r.doc} |")
    return "\n".join(lines)


def with_table(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{params_markdown()}\n{END}{tail}"


def indicators_document() -> str:
    return INDICATORS_HEAD + dictionary_markdown() + "\n"


def main() -> int:
    ODD.write_text(with_table(ODD.read_text(encoding="utf-8")), encoding="utf-8")
    INDICATORS.write_text(indicators_document(), encoding="utf-8")
    print(f"updated {ODD} and {INDICATORS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate the parameter table of docs/ODD.md from the parameter definitions.

    python -m simmodel.docgen        # rewrites the table between the markers
"""

from __future__ import annotations

import sys
from pathlib import Path

from .params import table_rows

START, END = "<!-- params:start -->", "<!-- params:end -->"
ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"


def params_markdown() -> str:
    lines = ["| key | default | unit | allowed | source | meaning |", "|---|---|---|---|---|---|"]
    for r in table_rows():
        lines.append(f"| `{r.key}` | {r.default} | {r.unit} | {r.allowed} | {r.source} | {r.doc} |")
    return "\n".join(lines)


def with_table(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{params_markdown()}\n{END}{tail}"


def main() -> int:
    ODD.write_text(with_table(ODD.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated {ODD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

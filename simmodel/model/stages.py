"""The stage ladder of intelligent manufacturing (MODEL.md section 2): one enum, one set of names."""

from __future__ import annotations

from enum import IntEnum


class Stage(IntEnum):
    """A firm's stage: 0 mechanized/manual .. 4 intelligent (GB/T 39116-2020 levels in ``maturity``)."""

    MANUAL = 0
    AUTOMATED = 1
    DIGITIZED = 2
    NETWORKED = 3
    INTELLIGENT = 4

    @property
    def label(self) -> str:
        """'0 mechanized/manual', '1 automated', ... (legends, tables)."""
        return f"{int(self)} {_LABELS[self]}"

    @property
    def maturity(self) -> str:
        """The GB/T 39116-2020 maturity level a stage maps to in reports."""
        return _MATURITY[self]


_LABELS = {Stage.MANUAL: "mechanized/manual", Stage.AUTOMATED: "automated", Stage.DIGITIZED: "digitized",
           Stage.NETWORKED: "networked", Stage.INTELLIGENT: "intelligent"}
_MATURITY = {Stage.MANUAL: "level 1 or below", Stage.AUTOMATED: "level 1 or below", Stage.DIGITIZED: "level 2",
             Stage.NETWORKED: "level 3", Stage.INTELLIGENT: "levels 4-5"}
N_STAGES = len(Stage)
STAGE_LABELS = tuple(s.label for s in Stage)
# one colour a stage in every figure and the visual server: grey for the manual stage, then warm to cool as a
# firm climbs the ladder
STAGE_COLOURS = ("#c7c7c7", "#f4a259", "#5b8e7d", "#2e5e8c", "#7b2d8b")

__all__ = ["Stage", "N_STAGES", "STAGE_LABELS", "STAGE_COLOURS"]

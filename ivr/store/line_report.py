"""The decision rows the picture of the line is computed from
(ivr.line_report): a period's rows of the kinds it counts, read through
the index on time."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from ..clock import to_text
from ..decisions import DecisionKind
from .base import TxBase
from .rows import DecisionRow


class LineReportQueries(TxBase):
    def decisions_between(self, since: datetime, until: datetime,
                          kinds: Iterable[DecisionKind]) -> list[DecisionRow]:
        """Decisions of `kinds` at or after `since` and before `until`, oldest first."""
        wanted = [str(k) for k in kinds]
        marks = ", ".join("?" for _ in wanted)
        rows = self._all(
            "SELECT id, at, line_id, channel, sid, conversation_id, tier, responder_id, kind,"
            f" reason FROM decisions WHERE at >= ? AND at < ? AND kind IN ({marks})"
            " ORDER BY at, id", (to_text(since), to_text(until), *wanted))
        return [DecisionRow(**dict(row)) for row in rows]

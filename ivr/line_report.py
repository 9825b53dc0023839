"""A picture of how each line is doing over a period, computed from the
decision log alone. Pure: the rows (ivr.store.line_report reads them) and
the period are given; nothing here reads a clock or the store.

Time to ACK is from a conversation's opening to its first ACK by a
responder (a hand-over is not an ACK); a responder's own time to ACK is
from the first page they received for it to their ACK. Medians are the
middle value (the mean of the two middle ones); p90 is the nearest rank."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable, Protocol, Sequence
from zoneinfo import ZoneInfo

from .clock import from_text
from .decisions import DecisionKind as K

# What the report reads from the log; the store fetches only these.
KINDS = (K.CONVERSATION_OPENED, K.ACKNOWLEDGED, K.ESCALATED, K.MISSED_CALL,
         K.VOICEMAIL_RECEIVED, K.UNANSWERED, K.MESSAGE_FORWARDED)
COUNTED = {K.ESCALATED: "escalations", K.MISSED_CALL: "missed_calls",
           K.VOICEMAIL_RECEIVED: "voicemails", K.UNANSWERED: "unanswered"}


class Row(Protocol):
    @property
    def at(self) -> str: ...
    @property
    def line_id(self) -> str | None: ...
    @property
    def conversation_id(self) -> int | None: ...
    @property
    def responder_id(self) -> str | None: ...
    @property
    def kind(self) -> str: ...


@dataclass
class Day:
    day: date
    opened: int = 0
    ack_seconds: list[float] = field(default_factory=list)

    @property
    def ack_median(self) -> float | None:
        return median(self.ack_seconds)


@dataclass
class LineFigures:
    line_id: str
    opened: int = 0
    escalations: int = 0
    missed_calls: int = 0
    voicemails: int = 0
    unanswered: int = 0
    ack_seconds: list[float] = field(default_factory=list)
    days: list[Day] = field(default_factory=list)

    @property
    def ack_median(self) -> float | None:
        return median(self.ack_seconds)

    @property
    def ack_p90(self) -> float | None:
        return percentile(self.ack_seconds, 90)


@dataclass
class ResponderFigures:
    responder_id: str
    pages: int = 0          # texts asking them to ACK (one per conversation per tier)
    taken: int = 0          # conversations they ACKed
    ack_seconds: list[float] = field(default_factory=list)

    @property
    def ack_median(self) -> float | None:
        return median(self.ack_seconds)


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    lines: dict[str, LineFigures]
    responders: dict[str, ResponderFigures]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile: a value that occurred, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def local_days(since: datetime, until: datetime, zone: ZoneInfo) -> list[date]:
    first, last = since.astimezone(zone).date(), (until - timedelta(microseconds=1)
                                                  ).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def report(rows: Iterable[Row], since: datetime, until: datetime,
           zones: dict[str, ZoneInfo], responder_ids: Iterable[str] = ()) -> Report:
    """Figures for each line of `zones` (its zone draws its days) and each
    responder, from the rows whose time is in [since, until)."""
    lines = {lid: LineFigures(lid, days=[Day(d) for d in local_days(since, until, zone)])
             for lid, zone in zones.items()}
    responders = {rid: ResponderFigures(rid) for rid in responder_ids}
    opened: dict[int, tuple[str, datetime]] = {}
    paged: dict[tuple[int, str], datetime] = {}
    for row in sorted(rows, key=lambda r: r.at):
        at = from_text(row.at)
        figures = lines.get(row.line_id or "")
        if not since <= at < until or figures is None:
            continue
        kind = K(row.kind)
        if kind in COUNTED:
            setattr(figures, COUNTED[kind], getattr(figures, COUNTED[kind]) + 1)
        elif kind is K.CONVERSATION_OPENED and row.conversation_id is not None:
            figures.opened += 1
            opened[row.conversation_id] = (figures.line_id, at)
            _day(figures, at, zones[figures.line_id]).opened += 1
        elif kind is K.MESSAGE_FORWARDED and row.responder_id and row.conversation_id:
            _responder(responders, row.responder_id).pages += 1
            paged.setdefault((row.conversation_id, row.responder_id), at)
        elif kind is K.ACKNOWLEDGED and row.responder_id and row.conversation_id:
            _acknowledged(lines, responders, zones, opened, paged, row, at)
    return Report(since, until, lines, responders)


def _acknowledged(lines, responders, zones, opened, paged, row: Row, at: datetime) -> None:
    responder = _responder(responders, row.responder_id or "")
    responder.taken += 1
    page = paged.get((row.conversation_id or 0, responder.responder_id))
    if page is not None:
        responder.ack_seconds.append((at - page).total_seconds())
    start = opened.pop(row.conversation_id or 0, None)   # only the first ACK counts
    if start is not None:
        line_id, opened_at = start
        waited = (at - opened_at).total_seconds()
        lines[line_id].ack_seconds.append(waited)
        _day(lines[line_id], opened_at, zones[line_id]).ack_seconds.append(waited)


def _day(figures: LineFigures, at: datetime, zone: ZoneInfo) -> Day:
    local = at.astimezone(zone).date()
    return next(d for d in figures.days if d.day == local)


def _responder(responders: dict[str, ResponderFigures], rid: str) -> ResponderFigures:
    if rid not in responders:
        responders[rid] = ResponderFigures(rid)
    return responders[rid]


def duration(seconds: float | None) -> str:
    """'45 s', '3 min 20 s', '2 h 05 min', or '-' for no figure."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"

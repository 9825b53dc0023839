"""The picture of the line: for a period (the last 7 days unless chosen),
each line's figures and chart, each responder's load, and who is on now.
The figures are computed by ivr.line_report from the decision log; the
"now" panel by ivr.line_now from the router's own schedule code. The
charts are drawn by the page's script (uPlot, vendored under static/)
from the JSON the page carries; the same numbers are in its tables."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from quart import abort, render_template, request

from ..line_now import line_now
from ..line_report import KINDS, Report, duration, report
from ..roles import Action
from ..services import current_services
from ..shown_times import day_and_time, line_zone
from .access import allowed_to, current_operator
from .blueprint import blueprint
from .login import csrf_token, login_required

DEFAULT_DAYS = 7
LONGEST_DAYS = 366


def chosen_period(typed_from: str, typed_to: str, today: date) -> tuple[date, date]:
    """The first and last day (both included); ValueError says what is wrong."""
    try:
        last = date.fromisoformat(typed_to) if typed_to else today
        first = (date.fromisoformat(typed_from) if typed_from
                 else last - timedelta(days=DEFAULT_DAYS - 1))
    except ValueError:
        raise ValueError("a date is not like 2026-11-26") from None
    if first > last:
        raise ValueError("the period starts after it ends")
    if (last - first).days >= LONGEST_DAYS:
        raise ValueError(f"a period is at most {LONGEST_DAYS} days")
    return first, last


@blueprint.get("/line-report")
@login_required
@allowed_to(Action.READ)
async def line_report() -> Any:
    svc = current_services()
    config, now = svc.config, svc.clock.now()
    zone = line_zone(config)
    try:
        first, last = chosen_period(request.args.get("from", ""), request.args.get("to", ""),
                                    now.astimezone(zone).date())
    except ValueError as exc:
        abort(400, f"{exc}. Fix: choose the days again")
    since = datetime.combine(first, datetime.min.time(), zone)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)

    def gather(tx):
        return tx.decisions_between(since, until, KINDS), tx.overrides()

    rows, overrides = await svc.store.read(gather)
    figures = report(rows, since, until, {lid: line.policy.zone
                                          for lid, line in config.lines.items()},
                     config.responders)
    panels = [line_now(config, svc.roster, line, now, overrides)
              for line in config.lines.values()]
    return await render_template(
        "line_report.html", operator=current_operator(), csrf_token=csrf_token(),
        first=first.isoformat(), last=last.isoformat(), zone=zone.key,
        lines=_line_rows(figures), responders=_responder_rows(figures),
        now_panels=[_panel(config, p) for p in panels],
        chart_data=json.dumps(_chart_data(figures)), shown_now=day_and_time(now, zone))


def _line_rows(figures: Report) -> list[dict[str, Any]]:
    config = current_services().config
    return [{"id": lid, "name": config.lines[lid].name, "opened": f.opened,
             "ack_median": duration(f.ack_median), "ack_p90": duration(f.ack_p90),
             "escalations": f.escalations, "missed_calls": f.missed_calls,
             "voicemails": f.voicemails, "unanswered": f.unanswered,
             "days": [{"day": f"{d.day:%a %d %b}", "opened": d.opened,
                       "ack_median": duration(d.ack_median)} for d in f.days]}
            for lid, f in figures.lines.items()]


def _responder_rows(figures: Report) -> list[dict[str, Any]]:
    config = current_services().config
    return [{"id": rid, "name": config.responders[rid].name if rid in config.responders
             else rid, "pages": r.pages, "taken": r.taken, "ack_median": duration(r.ack_median)}
            for rid, r in figures.responders.items()]


def _chart_data(figures: Report) -> dict[str, Any]:
    """What the charts draw: per line, days (noon, local, as Unix seconds, so
    a bar sits inside its day), conversations opened and median minutes to
    ACK; per responder, pages and taken."""
    lines = {}
    for lid, f in figures.lines.items():
        zone = current_services().config.lines[lid].policy.zone
        noons = [datetime.combine(d.day, datetime.min.time(), zone) + timedelta(hours=12)
                 for d in f.days]
        lines[lid] = {"x": [int(n.timestamp()) for n in noons],
                      "opened": [d.opened for d in f.days],
                      "ack_minutes": [round(d.ack_median / 60, 1) if d.ack_median is not None
                                      else None for d in f.days],
                      "zone": zone.key}
    responders = {"names": [], "pages": [], "taken": []}
    for rid, r in figures.responders.items():
        responder = current_services().config.responders.get(rid)
        responders["names"].append(responder.name if responder else rid)
        responders["pages"].append(r.pages)
        responders["taken"].append(r.taken)
    return {"lines": lines, "responders": responders}


def _panel(config, panel) -> dict[str, Any]:
    zone = panel.line.policy.zone
    return {"id": panel.line.id, "name": panel.line.name, "open": panel.open, "why": panel.why,
            "tiers": panel.tiers, "next_tiers": panel.next_tiers,
            "next_change": day_and_time(panel.next_change, zone) if panel.next_change else None}

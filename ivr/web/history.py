"""The history page: closed (and open) conversations and past calls, found
by line, number, code, responder and dates, a page at a time, newest
first; and the same as CSV, every row that matches. Numbers are masked
on the page and in the CSV alike."""

from __future__ import annotations

import csv
import io
from typing import Any, AsyncIterator

from quart import Response, render_template, request, url_for

from ..config import Config
from ..history_search import Search, SearchRefused, cursor, typed_search
from ..phone import mask
from ..services import current_services
from ..shown_times import date_and_time, day_and_time, line_zone
from ..store import AnyStore, Conversation
from ..store.history import CallSummary
from .blueprint import blueprint
from .login import login_required

PAGE_SIZE = 25
CSV_BATCH = 500


def _name(config: Config, responder_id: str | None) -> str:
    responder = config.responders.get(responder_id or "")
    return responder.name if responder else (responder_id or "")


def _line(config: Config, line_id: str) -> Any:
    line = config.lines.get(line_id)
    return (line.name, line.code) if line else (line_id, line_id)


def conversation_row(config: Config, c: Conversation) -> dict[str, Any]:
    zone = line_zone(config, c.line_id)
    name, code = _line(config, c.line_id)
    return {"id": c.id, "line": name, "line_code": code, "code": c.code,
            "customer": mask(c.customer), "origin": c.origin, "status": c.status,
            "owner": _name(config, c.owner),
            "opened": day_and_time(c.opened_at, zone), "opened_at": c.opened_at,
            "opened_full": date_and_time(c.opened_at, zone),
            "closed": day_and_time(c.closed_at, zone) if c.closed_at else "",
            "closed_full": date_and_time(c.closed_at, zone) if c.closed_at else "",
            "closed_at": c.closed_at or ""}


def call_row(config: Config, found: CallSummary) -> dict[str, Any]:
    call = found.call
    zone = line_zone(config, call.line_id)
    name, code = _line(config, call.line_id)
    return {"sid": call.call_sid, "line": name, "line_code": code,
            "caller": mask(call.caller), "status": call.status,
            "taken_by": _name(config, call.connected_to),
            "started": day_and_time(call.started_at, zone), "started_at": call.started_at,
            "started_full": date_and_time(call.started_at, zone),
            "voicemail_seconds": found.voicemail_seconds,
            "conversation_id": found.conversation_id}


def _before(search: Search) -> tuple[str, Any] | None:
    if search.before is None or search.what == "calls":
        return search.before
    at, key = search.before
    return (at, int(key)) if key.isdigit() else None


async def _page(store: AnyStore, search: Search, limit: int,
                before: tuple[str, Any] | None) -> list[Any]:
    if search.what == "calls":
        return await store.read(lambda tx: tx.find_calls(search.found, limit, before))
    return await store.read(lambda tx: tx.find_conversations(search.found, limit, before))


def _key(search: Search, row: Any) -> tuple[str, Any]:
    if search.what == "calls":
        return row.call.started_at, row.call.call_sid
    return row.opened_at, row.id


@blueprint.get("/history")
@login_required
async def history() -> Any:
    config = current_services().config
    form = {"lines": list(config.lines.values()),
            "responders": list(config.responders.values())}
    try:
        search = typed_search(config, request.args)
    except SearchRefused as exc:
        typed = {key: request.args.get(key, "") for key in (
            "what", "line", "number", "code", "responder", "from", "to", "status")}
        return await render_template("history.html", error=str(exc), typed=typed, rows=[],
                                     what=typed["what"] or "conversations", older=None,
                                     csv_url=None, **form), 400
    found = await _page(current_services().store, search, PAGE_SIZE + 1, _before(search))
    older = None
    if len(found) > PAGE_SIZE:
        found = found[:PAGE_SIZE]
        older = url_for("dashboard.history", **{**_args(search.typed),
                                                "before": cursor(*_key(search, found[-1]))})
    make = call_row if search.what == "calls" else conversation_row
    return await render_template(
        "history.html", error=None, typed=search.typed, what=search.what,
        rows=[make(config, row) for row in found], older=older,
        first=url_for("dashboard.history", **_args(search.typed)) if search.before else None,
        csv_url=url_for("dashboard.history_csv", **_args(search.typed)), **form)


def _args(typed: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in typed.items() if value}


CONVERSATION_COLUMNS = ("line", "code", "customer (masked)", "origin", "status", "owner",
                        "opened", "closed", "opened (UTC)", "closed (UTC)")
CALL_COLUMNS = ("line", "caller (masked)", "started", "started (UTC)", "status", "taken by",
                "voicemail seconds", "conversation")


def _csv_cells(search: Search, config: Config, row: Any) -> list[Any]:
    if search.what == "calls":
        r = call_row(config, row)
        return [r["line_code"], r["caller"], r["started_full"], r["started_at"], r["status"],
                r["taken_by"], r["voicemail_seconds"] or "", r["conversation_id"] or ""]
    r = conversation_row(config, row)
    return [r["line_code"], r["code"], r["customer"], r["origin"], r["status"], r["owner"],
            r["opened_full"], r["closed_full"], r["opened_at"], r["closed_at"]]


def _cell(value: Any) -> str:
    """A spreadsheet reads a cell starting with = + - @ as a formula (a
    masked number starts with +): such a cell is kept as text."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@blueprint.get("/history.csv")
@login_required
async def history_csv() -> Any:
    # Read here: the rows are written after the request's context is gone.
    config, store = current_services().config, current_services().store
    try:
        search = typed_search(config, request.args)
    except SearchRefused as exc:
        return Response(f"{exc}\n", 400, mimetype="text/plain")

    async def rows() -> AsyncIterator[bytes]:
        yield _line_of(CALL_COLUMNS if search.what == "calls" else CONVERSATION_COLUMNS)
        before = None
        while True:
            batch = await _page(store, search, CSV_BATCH, before)
            for row in batch:
                yield _line_of([_cell(cell) for cell in _csv_cells(search, config, row)])
            if len(batch) < CSV_BATCH:
                return
            before = _key(search, batch[-1])

    response = Response(rows(), 200, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ivr-{search.what}.csv"')
    response.timeout = None
    return response


def _line_of(cells: Any) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue().encode("utf-8")

"""The history page's queries (ivr/store/history.py) on a year of history:
bench/history.py's 1,000,000 decision rows and 100,000 conversations
(about 50,000 calls), each query timed as one `store.read`, median of 7.
Run by hand, never in CI; no test asserts a timing.

    python bench/history_search.py                     # SQLite only
    python bench/history_search.py --postgres URL      # and PostgreSQL (a server URL:
                                                       # a database is made and dropped)

The store is opened as the service opens it, so the schema's steps run
(migrations.py, step 7 builds the history indexes on the loaded rows:
its time is reported). Deep paging walks 40 pages of 25 by key and times
the 41st; the CSV export reads a month in batches of 500, as the route does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import history
from paths import REPO  # noqa: F401 - sys.path

PAGE = 26           # a page of 25 and one more, as the route asks
REPEATS = 7
# bench/history.py's customers are +1619 7000000 + id; this tail is 10 of them.
TAIL = "4321"
NUMBER = "+16197054321"


def _filters(now_text: Callable[[int], str]) -> dict[str, Any]:
    from ivr.store.history import HistoryFilter
    week = {"since": now_text(180), "until": now_text(173)}
    return {
        "conversations, newest page": ("c", HistoryFilter()),
        "conversations, closed": ("c", HistoryFilter(status="closed")),
        "conversations, by line": ("c", HistoryFilter(line_id="qdn")),
        "conversations, last 4 digits": ("c", HistoryFilter(number=TAIL)),
        "conversations, last 7 digits": ("c", HistoryFilter(number=NUMBER[-7:])),
        "conversations, whole number": ("c", HistoryFilter(number=NUMBER)),
        "conversations, code on a line": ("c", HistoryFilter(line_id="qdn", code=17)),
        "conversations, responder": ("c", HistoryFilter(responder_id="backup")),
        "conversations, a week 6 months ago": ("c", HistoryFilter(**week)),
        "conversations, 4 digits + week + closed": (
            "c", HistoryFilter(number=TAIL[-4:], status="closed", **week)),
        "calls, newest page": ("k", HistoryFilter()),
        "calls, last 4 digits": ("k", HistoryFilter(number="0042")),
        "calls, responder": ("k", HistoryFilter(responder_id="backup")),
        "calls, voicemail's conversation code": ("k", HistoryFilter(code=17)),
        "calls, a week 6 months ago": ("k", HistoryFilter(**week)),
    }


async def measure(store: Any) -> dict[str, dict[str, float]]:
    from datetime import timedelta

    from ivr.clock import SystemClock, to_text
    from ivr.store.history import HistoryFilter

    now = SystemClock().now()
    out: dict[str, dict[str, float]] = {}

    async def timed(name: str, fn: Callable[[Any], Any]) -> None:
        times, rows = [], None
        for _ in range(REPEATS):
            started = time.perf_counter()
            rows = await store.read(fn)
            times.append((time.perf_counter() - started) * 1000)
        out[name] = {"median_ms": round(statistics.median(times), 2),
                     "first_ms": round(times[0], 2),
                     "rows": len(rows) if hasattr(rows, "__len__") else None}

    for name, (what, found) in _filters(lambda d: to_text(now - timedelta(days=d))).items():
        if what == "c":
            await timed(name, lambda tx, f=found: tx.find_conversations(f, PAGE))
        else:
            await timed(name, lambda tx, f=found: tx.find_calls(f, PAGE))

    cursor = None
    for _ in range(40):
        page = await store.read(lambda tx: tx.find_conversations(HistoryFilter(), 25, cursor))
        cursor = (page[-1].opened_at, page[-1].id)
    await timed("conversations, page 41 (by key)",
                lambda tx: tx.find_conversations(HistoryFilter(), PAGE, cursor))

    middle = await store.read(lambda tx: tx.find_conversations(
        HistoryFilter(until=to_text(now - timedelta(days=180))), 1))
    await timed("transcript of one conversation", lambda tx: tx.transcript(middle[0].id))
    await timed("how each open conversation was taken (dashboard)",
                lambda tx: tx.open_ownerships())

    month = HistoryFilter(since=to_text(now - timedelta(days=200)),
                          until=to_text(now - timedelta(days=170)))
    started = time.perf_counter()
    exported, cursor = 0, None
    while True:
        batch = await store.read(lambda tx: tx.find_conversations(month, 500, cursor))
        exported += len(batch)
        if len(batch) < 500:
            break
        cursor = (batch[-1].opened_at, batch[-1].id)
    out["CSV export, a month of conversations (batches of 500)"] = {
        "median_ms": round((time.perf_counter() - started) * 1000, 2), "first_ms": None,
        "rows": exported}
    return out


async def through_store(store: Any) -> dict[str, Any]:
    started = time.perf_counter()
    await store.open()            # applies the schema's steps, the history indexes among them
    opened = time.perf_counter() - started
    try:
        return {"open_and_upgrade_seconds": round(opened, 1), "queries": await measure(store)}
    finally:
        await store.close()


def sqlite_run(directory: Path, size: tuple[int, int]) -> dict[str, Any]:
    from ivr.clock import SystemClock
    from ivr.store import Store
    path = directory / "history.sqlite3"
    built = history.build(path, *size)
    return {"built": built, **asyncio.run(through_store(Store(path, SystemClock())))}


def postgres_run(server: str, size: tuple[int, int]) -> dict[str, Any]:
    import pg_history
    import psycopg

    from ivr.clock import SystemClock
    from ivr.store.postgres import PostgresStore
    name = "ivr_bench_" + uuid.uuid4().hex[:10]
    url = f"{server.rpartition('/')[0]}/{name}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        built = pg_history.build(url, *size)
        return {"built": built, **asyncio.run(through_store(PostgresStore(url, SystemClock())))}
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table(results: dict[str, Any]) -> str:
    engines = list(results)
    lines = [f"{'query (median of 7, ms)':56}" + "".join(f"{e:>12}" for e in engines)
             + "   rows"]
    for name in results[engines[0]]["queries"]:
        cells = "".join(f"{results[e]['queries'][name]['median_ms']:>12.1f}" for e in engines)
        rows = results[engines[0]]["queries"][name]["rows"]
        lines.append(f"{name:56}{cells}   {rows}")
    lines.append(f"{'opening the store (step 7 builds the indexes), s':56}" + "".join(
        f"{results[e]['open_and_upgrade_seconds']:>12.1f}" for e in engines))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a database is made "
                        "there for the run and dropped)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=100_000)
    args = parser.parse_args()
    size = (args.decisions, args.conversations)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ivr-history-search-") as directory:
        results["sqlite"] = sqlite_run(Path(directory), size)
    if args.postgres:
        results["postgresql"] = postgres_run(args.postgres, size)
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The store engines compared under the same Twilio-shaped load: SQLite with
one instance, PostgreSQL with one, and PostgreSQL with two instances (two
`run.py` processes on different ports, one database, the load generator's
connections spread over both as a load balancer would, both signing for one
public URL). Run by hand, never in CI:

    .venv/bin/python bench/engines.py [--quick] [--requests N] [--workers W]
        [--levels 1,16,64] [--parts load,timers,history] [--durable]
        [--pg-url URL] [--configs sqlite-1,postgresql-1,postgresql-2]
        [--patches pg_write_lock]
    .venv/bin/python bench/run.py --engines [--quick]    (the same, from run.py)

For each configuration, on a fresh database and fresh services, at each
level: new texts (sms_incoming), ACKs, new calls (voice_incoming) and their
Dial actions (dial_next_tier), two runs of N requests each, as
webhooks_load.py sends them, with no baseline (the engines are compared
with each other). Per endpoint: req/s, p50/p99, errors, fallback answers,
the service's CPU per request and, for PostgreSQL, the cluster's CPU per
request (every backend; the cluster does nothing else). After the levels:
every text answered 200 is complete in the database (service_db.check_texts),
the fake Twilio received each text's page exactly once (a second instance's
outbox must not send it again), row counts, and the transactions the store
ran again after a serialization failure (the services' own count, logged
at close; PostgreSQL's commit and rollback counts agree).

`timers`: 100,000 pending ACK timers, 500 due over the next 10 s (timers.py's
backlog, ten times the pending), on each configuration's services.
`history`: a PostgreSQL database with 1,000,000 decisions (pg_history.py) and
an empty one, one service each, 1,000 new texts at 16 connections each,
alternately (history_load.py). --quick: 300 requests per run, 10,000 timers,
100,000 decisions.

The PostgreSQL cluster is a throwaway one started here (scripts/postgres:
fsync, synchronous_commit and full_page_writes off), or with --durable the
same started with PostgreSQL's defaults (fsync on), or --pg-url an existing
one (databases are created in it and dropped at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from paths import BENCH, PY  # noqa: F401 - sys.path first
import history_load
import timers
from console import fmt, log
from harness import Harness
from load_runs import LoadRun
from pg_cluster import PgCluster, database_stats
from servers import Server, free_port
from service_db import cancel_timers, check_texts, is_postgres, retire, table_counts
from stats import pct, summarise
from twilio_requests import SERGIO, Request, acks, dial_actions, message_sids, new_calls, new_texts

CONFIGS = {"sqlite-1": ("sqlite", 1), "postgresql-1": ("postgresql", 1),
           "postgresql-2": ("postgresql", 2)}
ENDPOINTS = ("sms_incoming", "ack", "voice_incoming", "dial_next_tier")
RERUN_LINE = re.compile(r"PostgreSQL store closed; (\d+) transaction")


@dataclass
class Instances:
    """One or more instances of the service on one database, seen as one
    server by the load runs: `ports` spreads the connections, `url` is the
    public URL all of them sign for, CPU is the sum of theirs."""
    name: str
    servers: list[Server]
    url: str
    db: Any
    pg: PgCluster | None = None
    log_paths: list[Path] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.servers[0].port

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def cpu(self) -> float:
        return sum(s.cpu() for s in self.servers)

    def rss(self) -> dict[str, float | None]:
        return {f"{s.name} {k}": v for s in self.servers for k, v in s.rss().items()}


def start_instances(harness: Harness, name: str, db: Any, count: int,
                    pg: PgCluster | None) -> Instances:
    public = None
    if count > 1:  # the load balancer's address: Twilio signs for it
        public = f"http://127.0.0.1:{free_port()}"
    servers = []
    for i in range(count):
        servers.append(harness.servers.start_service(f"{name}-{i + 1}", db,
                                                     harness.fake_twilio, public_url=public))
    url = public or servers[0].url
    return Instances(name, servers, url, db, pg, [s.log_path for s in servers])


def stop_instances(harness: Harness, instances: Instances) -> None:
    for server in instances.servers:
        harness.servers.stop(server)


def warm_up(harness: Harness, svc: Instances) -> None:
    """Every endpoint once at 16 connections, then what it opened retired."""
    n = max(harness.requests_per_run // 10, 100)
    texts, _ = new_texts(svc.url, n, "w")
    harness.drive(svc, texts, 16)  # type: ignore[arg-type]
    harness.drive(svc, acks(svc.url, n), 16)  # type: ignore[arg-type]
    calls, sids = new_calls(svc.url, n)
    run = harness.drive(svc, calls, 16, keep_body=True)  # type: ignore[arg-type]
    dials = dial_actions(svc.url, ((r[4], s) for r, s in zip(run.results, sids) if r))
    harness.drive(svc, dials, 16)  # type: ignore[arg-type]
    harness.fake_twilio.wait_for(harness.fake_twilio.count() + 1, seconds=2)
    retire(svc.db)


def runs(harness: Harness, svc: Instances, make: Callable[[], list[Request]], level: int,
         marker: str, sends: int = 0, after: Callable[[], Any] | None = None
         ) -> tuple[dict[str, Any], list[LoadRun]]:
    """Two runs of `make()`'s requests at `level` connections, pooled, with the
    cluster's CPU per 1,000 requests (read after the outbox sent what they queued)."""
    out: list[LoadRun] = []
    pg_cpu = 0.0
    for _ in range(2):
        requests = make()
        before = svc.pg.cpu() if svc.pg else 0.0
        run = harness.drive(svc, requests, level, keep_body=True,  # type: ignore[arg-type]
                            sink=harness.fake_twilio, expected_sends=sends * len(requests))
        pg_cpu += (svc.pg.cpu() - before) if svc.pg else 0.0
        run.sids = message_sids(requests)
        if after:
            after()
        out.append(run)
    s = summarise(out)
    s["bad_answers"] = sum(run.answered_without(marker) for run in out)
    done = max(s["ok"] + s["errors"], 1)
    s["pg_cpu_s_per_1000"] = pg_cpu / done * 1000 if svc.pg else None
    s["total_cpu_s_per_1000"] = s["cpu_s_per_1000"] + (s["pg_cpu_s_per_1000"] or 0.0)
    return s, out


def measure_level(harness: Harness, svc: Instances, level: int,
                  text_sids: list[str]) -> dict[str, Any]:
    n = harness.requests_per_run
    out: dict[str, Any] = {}
    level_sids: list[str] = []

    def make_texts() -> list[Request]:
        requests, sids = new_texts(svc.url, n, "t")
        level_sids.extend(sids)
        return requests

    s, text_runs = runs(harness, svc, make_texts, level, "will reply shortly", sends=1,
                        after=lambda: cancel_timers(svc.db))
    states = check_texts(svc.db, level_sids)
    ok_sids = [sid for run in text_runs for sid in run.sids_answered(run.sids)]
    text_sids.extend(ok_sids)
    s["lost_after_200"] = sum(1 for sid in ok_sids if states.get(sid) != "complete")
    out["sms_incoming"] = s
    out["ack"], _ = runs(harness, svc, lambda: acks(svc.url, n), level, "is yours", sends=1)
    retire(svc.db)
    call_sids: list[str] = []

    def make_calls() -> list[Request]:
        requests, sids = new_calls(svc.url, n)
        call_sids.extend(sids)
        return requests

    out["voice_incoming"], call_runs = runs(harness, svc, make_calls, level, "<Dial")
    bodies = [(r[4] if r and r[2] == 200 else None) for run in call_runs for r in run.results]
    actions = dial_actions(svc.url, zip(bodies, call_sids))
    halves = iter([actions[:len(actions) // 2], actions[len(actions) // 2:]])
    out["dial_next_tier"], _ = runs(harness, svc, lambda: next(halves), level, "+18585550199")
    retire(svc.db)
    for endpoint, r in out.items():
        log(f"{svc.name:13} {endpoint:15} c={level:<3} {r['rps']:7.0f} req/s p50 "
            f"{r['p50_ms']:7.2f} p99 {r['p99_ms']:8.2f} ms cpu {r['cpu_s_per_1000']:.2f}"
            f" + pg {fmt(r['pg_cpu_s_per_1000'])} s/1k err {r['errors']} bad "
            f"{r['bad_answers']}" + (f" lost {r['lost_after_200']}"
                                     if "lost_after_200" in r else ""))
    return out


def pages_sent_once(messages: list[list[Any]], sids: list[str]) -> dict[str, int]:
    """Each text's page at the fake Twilio (to the responder, carrying the
    text's `bench-SM...` token): how many texts got none, and how many more than one."""
    counts: dict[str, int] = {}
    for _, to, body in messages:
        if to != SERGIO:
            continue
        match = re.search(r"bench-(SM\w+)", body or "")
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return {"texts": len(sids), "pages_missing": sum(1 for s in sids if not counts.get(s)),
            "pages_duplicated": sum(1 for s in sids if counts.get(s, 0) > 1)}


def reruns_logged(paths: list[Path]) -> int | None:
    """Serialization re-runs the services logged when they closed their store."""
    found = None
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            match = RERUN_LINE.search(line)
            if match:
                found = (found or 0) + int(match.group(1))
    return found


def log_errors(paths: list[Path]) -> dict[str, Any]:
    lines = [line for p in paths for line in p.read_text(errors="replace").splitlines()
             if " ERROR " in line or "CRITICAL" in line or "Traceback" in line]
    return {"error_lines": len(lines), "samples": lines[:3]}


def measure_config(harness: Harness, pg: PgCluster | None, config: str, levels: list[int],
                   timer_pending: int) -> dict[str, Any]:
    engine, count = CONFIGS[config]
    dbname = f"ivr_bench_{config.replace('-', '_')}_{os.getpid()}"
    if engine == "postgresql":
        assert pg is not None
        db: Any = pg.create_database(dbname)
    else:
        db = harness.tmp / f"engines-{config}.sqlite3"
    svc = start_instances(harness, config, db, count, pg if engine == "postgresql" else None)
    log(f"=== {config}: {count} instance(s) of {harness.servers.workers} worker(s), "
        f"ports {svc.ports}, public URL {svc.url}")
    out: dict[str, Any] = {"engine": engine, "instances": count,
                           "workers_per_instance": harness.servers.workers, "levels": {}}
    text_sids: list[str] = []
    try:
        warm_up(harness, svc)
        since = harness.fake_twilio.count()
        for level in levels:
            out["levels"][level] = measure_level(harness, svc, level, text_sids)
        out["pages"] = pages_sent_once(harness.fake_twilio.messages(since), text_sids)
        out["rows"] = table_counts(db) if engine == "sqlite" else _pg_counts(db)
        if timer_pending:
            out["timers"] = timers.measure_timers(harness, svc,  # type: ignore[arg-type]
                                                  pending=timer_pending, burst=False)
        out["memory"] = svc.rss()
    finally:
        stop_instances(harness, svc)
    out["serialization_reruns"] = reruns_logged(svc.log_paths)
    out["service_log"] = log_errors(svc.log_paths)
    if engine == "postgresql":
        assert pg is not None
        time.sleep(1)  # the backends' last statistics
        out["pg_stats"] = database_stats(pg.url, dbname)
        pg.drop_database(dbname)
    log(f"{config}: pages {out['pages']}; serialization re-runs "
        f"{out['serialization_reruns']}; pg {out.get('pg_stats')}")
    return out


def _pg_counts(url: str) -> dict[str, int]:
    from service_db import connect
    con = connect(url)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("decisions", "conversations", "inbound_messages", "outbox",
                          "timers", "calls")}
    finally:
        con.close()


def measure_pg_history(harness: Harness, pg: PgCluster) -> dict[str, Any]:
    """1M decision rows against an empty database on PostgreSQL, one service
    each, as history_load.py does on SQLite."""
    import pg_history
    decisions = 100_000 if harness.quick else 1_000_000
    conversations = 10_000 if harness.quick else 100_000
    big_name, empty_name = f"ivr_bench_history_{os.getpid()}", f"ivr_bench_empty_{os.getpid()}"
    big_db, empty_db = pg.create_database(big_name), pg.create_database(empty_name)
    log(f"building a PostgreSQL history of {decisions} decisions, {conversations} conversations")
    out: dict[str, Any] = {"built": pg_history.build(big_db, decisions, conversations)}
    log(f"built: {out['built']}")
    empty = harness.servers.start_service("pg-empty", empty_db, harness.fake_twilio)
    big = harness.servers.start_service("pg-history", big_db, harness.fake_twilio)
    try:
        cold_text, _ = new_texts(big.url, 1, "k")
        cold = harness.drive(big, cold_text, 1)
        out["first_text_on_history_ms"] = cold.latencies[0] if cold.latencies else None
        out["sms_incoming_16"] = history_load._texts_empty_and_history(harness, empty, big)
        out["db_size_mb"] = _pg_size_mb(big_db)
    finally:
        harness.servers.stop(big)
        harness.servers.stop(empty)
    out["service_log"] = log_errors([big.log_path, empty.log_path])
    out["serialization_reruns"] = {"history": reruns_logged([big.log_path]),
                                   "empty": reruns_logged([empty.log_path])}
    pg.drop_database(big_name)
    pg.drop_database(empty_name)
    return out


def _pg_size_mb(url: str) -> float:
    from service_db import connect
    con = connect(url)
    try:
        return con.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20
    finally:
        con.close()


def measure_engines(harness: Harness, pg: PgCluster, configs: list[str], levels: list[int],
                    parts: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"pg_settings": pg.settings(), "configs": {}}
    timer_pending = (10_000 if harness.quick else 100_000) if "timers" in parts else 0
    if "load" in parts or timer_pending:
        for config in configs:
            out["configs"][config] = measure_config(harness, pg, config,
                                                    levels if "load" in parts else [],
                                                    timer_pending)
    if "history" in parts:
        out["history"] = measure_pg_history(harness, pg)
    return out


# -- the summary ----------------------------------------------------------------------

def summary_lines(results: dict[str, Any]) -> list[str]:
    e = results.get("engines")
    if not e:
        return []
    st = e.get("pg_settings", {})
    lines = ["", f"Engines (PostgreSQL {st.get('server_version')}, fsync {st.get('fsync')}, "
                 f"synchronous_commit {st.get('synchronous_commit')}; cpu = the service's "
                 f"processes, pg = the cluster's, s per 1,000 requests)"]
    header = (f"{'config':14}{'endpoint':16}{'conns':>6}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'cpu/1k':>8}{'pg/1k':>7}{'err':>5}{'bad':>5}{'lost':>5}")
    lines += [header, "-" * len(header)]
    for config, c in e.get("configs", {}).items():
        for level, row in c.get("levels", {}).items():
            for endpoint in ENDPOINTS:
                r = row[endpoint]
                lines.append(
                    f"{config:14}{endpoint:16}{level:>6}{fmt(r['rps'], 0):>8}"
                    f"{fmt(r['p50_ms']):>9}{fmt(r['p99_ms']):>9}{fmt(r['cpu_s_per_1000']):>8}"
                    f"{fmt(r['pg_cpu_s_per_1000']):>7}{r['errors']:>5}{r['bad_answers']:>5}"
                    f"{fmt(r.get('lost_after_200', '')):>5}")
    for config, c in e.get("configs", {}).items():
        p = c.get("pages", {})
        lines.append(f"  {config}: {p.get('texts')} texts answered 200, pages missing "
                     f"{p.get('pages_missing')}, sent twice {p.get('pages_duplicated')}; "
                     f"serialization re-runs {fmt(c.get('serialization_reruns'))}; "
                     f"pg {c.get('pg_stats', '-')}; log errors "
                     f"{c['service_log']['error_lines']}; rows {c.get('rows')}")
        t = c.get("timers", {}).get("backlog")
        if t:
            lines.append(f"  {config}: timers, {t['due_in_window']} due of {t['pending']} "
                         f"pending: fired late p50 {fmt(t['fire_late_p50_ms'], 0)} p99 "
                         f"{fmt(t['fire_late_p99_ms'], 0)} max {fmt(t['fire_late_max_ms'], 0)}"
                         f" ms; send started p99 {fmt(t['send_started_late_p99_ms'], 0)} ms;"
                         f" unfired {t['unfired']}")
    h = e.get("history")
    if h:
        s = h["sms_incoming_16"]
        lines.append(f"  PostgreSQL history ({h['built']['decisions']} decisions, "
                     f"{fmt(h.get('db_size_mb'), 0)} MB) vs empty, /sms/incoming at 16: "
                     f"empty p99 {fmt(s['empty']['p99_ms'])} ms {fmt(s['empty']['rps'], 0)} "
                     f"req/s, history p99 {fmt(s['history']['p99_ms'])} ms "
                     f"{fmt(s['history']['rps'], 0)} req/s; ratio p99 x{s['ratio']['p99']}, "
                     f"p50 x{s['ratio']['p50']}; lost {s['empty']['lost_after_200']}/"
                     f"{s['history']['lost_after_200']}")
    return lines


# -- on its own -----------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--parts", default="load,timers,history")
    parser.add_argument("--durable", action="store_true",
                        help="start the cluster with fsync and synchronous_commit on")
    parser.add_argument("--pg-url", default="", help="an existing cluster to use")
    parser.add_argument("--patches", default="",
                        help="candidate fixes for the services (bench/patched_run.py)")
    parser.add_argument("--out", default=str(BENCH / "results-engines.json"))
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    harness = Harness.create(requests=args.requests, quick=args.quick, workers=args.workers,
                             patches=args.patches)
    pg = PgCluster(url=args.pg_url or None, durable=args.durable)
    results: dict[str, Any] = {
        "command": " ".join(["python", "bench/engines.py", *sys.argv[1:]]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {"requests_per_run": harness.requests_per_run, "workers": args.workers,
                     "levels": args.levels, "quick": args.quick, "durable": args.durable,
                     "patches": args.patches or None}}
    try:
        log(f"PostgreSQL at {pg.start()}; tmp {harness.tmp}")
        harness.start_sink()
        results["engines"] = measure_engines(
            harness, pg, args.configs.split(","), [int(x) for x in args.levels.split(",")],
            set(args.parts.split(",")))
    finally:
        harness.servers.stop_all()
        pg.stop()
        results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1, default=str)
        print("\n".join(summary_lines(results)))
        for path in harness.tmp.glob("*.sqlite3*"):
            path.unlink(missing_ok=True)
        log(f"results in {args.out}; logs in {harness.tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

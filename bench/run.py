"""Benchmark ivr the way Twilio loads it, against a baseline measured in the
same run (issue 8). Run by hand, never in CI:

    .venv/bin/python bench/run.py [--quick] [--requests N] [--workers 2]
    .venv/bin/python bench/run.py --engines [--quick]   (engines.py, in this harness)
    .venv/bin/python bench/run.py --peer [--quick]      (peer.py: ivr beside a Flask peer)

It starts, all on 127.0.0.1 and all stopped again at the end:
  - a fake Twilio REST API (tests/support/fake_twilio.py in bench/twilio_sink.py's
    process) that stamps when each REST send arrives;
  - the real service, `run.py --workers W`, on a fresh SQLite file;
  - the baseline: Hypercorn with W workers serving bench/baseline_app.py,
    a bare ASGI app answering one constant TwiML document;
  - for every load run, bench/loadgen.py in its own process.

This module is the entry point: the options, the copy of the source a run
measures, the order of the measurements, the memory and service-log figures
it gathers between them, and the summary. Each measurement is a module of
its own: baseline_checks.py (client check, Quart floor), webhooks_load.py
(the load levels), send_latency.py (text -> REST send), disconnects.py,
timers.py, history_load.py with dashboard_queries.py.

See bench/README.md for what each figure means. Results: bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from paths import BENCH, PY, REPO
import baseline_checks
import disconnects
import engines
import history_load
import peer
import send_latency
import timers
import webhooks_load
from console import fmt, log
from harness import Harness
from servers import Server
from service_db import table_counts

LEVELS = [1, 16, 64]  # connections of the load levels
SNAPSHOT_ENV = "IVR_BENCH_SNAPSHOT"
SNAPSHOT_PARTS = ("ivr", "run.py", "schema.sql", "pyproject.toml", "examples", "tests", "bench",
                  "scripts", "twiml_templates", "dashboard_templates")


class Benchmark:
    """One run of every measurement, in order, into `results`."""

    def __init__(self, args: argparse.Namespace):
        self.harness = Harness.create(requests=args.requests, quick=args.quick,
                                      workers=args.workers, client=args.client,
                                      patches=args.patches)
        self.servers = self.harness.servers
        self.service_logs: list[Path] = []
        self.engines = args.engines
        self.peer = args.peer
        self.workers = args.workers
        self.results: dict[str, Any] = {
            "command": " ".join([Path(PY).name, *sys.argv]),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "settings": {"requests_per_run": self.harness.requests_per_run,
                         "workers": args.workers, "client": args.client, "levels": LEVELS,
                         "quick": args.quick, "patches": args.patches or None},
            "git": git_state(),
        }

    def run(self) -> None:
        if self.engines:
            self.run_engines()
            return
        if self.peer:
            self.run_peer()
            return
        try:
            sink = self.harness.start_sink()
            baseline = self.servers.start_baseline()
            log(f"baseline {baseline.url}, fake Twilio {sink.url}, tmp {self.harness.tmp}")
            self.results["client_check"] = baseline_checks.client_check(self.harness, baseline)
            self.results["quart_floor"] = baseline_checks.quart_floor(self.harness, baseline)
            memory = self._load_levels(baseline)
            memory["after disconnects and timers"] = self._one_service_tests(baseline)
            memory["baseline"] = baseline.rss()
            self.results["memory"] = memory
            self.results["fake_twilio"] = sink.state()
            self.servers.stop(baseline)
            self.results["history"] = history_load.measure_history(self.harness,
                                                                   self.service_logs)
            self.results["service_log"] = service_log_summary(self.service_logs)
        finally:
            self.servers.stop_all()
        self.results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def run_engines(self) -> None:
        """--engines: SQLite, PostgreSQL, PostgreSQL on two instances (engines.py),
        on a throwaway PostgreSQL cluster started and stopped here."""
        from pg_cluster import PgCluster
        pg = PgCluster()
        try:
            log(f"PostgreSQL at {pg.start()}")
            self.harness.start_sink()
            self.results["engines"] = engines.measure_engines(
                self.harness, pg, list(engines.CONFIGS), LEVELS, {"load", "timers", "history"})
        finally:
            self.servers.stop_all()
            pg.stop()
        self.results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def run_peer(self) -> None:
        """--peer: ivr beside the tutorial-style peer (peer.py)."""
        try:
            self.results["peer"] = peer.measure_peer(self.harness, self.workers)
        finally:
            self.servers.stop_all()
        self.results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def _load_levels(self, baseline: Server) -> dict[str, Any]:
        """Each level on a fresh service and database, so every level starts from
        the same state; the workers' memory after each."""
        self.results["load"] = {}
        memory: dict[str, Any] = {}
        for level in LEVELS:
            service = self.servers.start_service(f"service-c{level}",
                                                 self.harness.tmp / f"ivr-c{level}.sqlite3",
                                                 self.harness.fake_twilio)
            log(f"--- {level} connection(s): service {service.url} (pids {service.pids})")
            try:
                webhooks_load.warm_up(self.harness, service, baseline)
                webhooks_load.measure_level(self.harness, service, baseline, level,
                                            self.results["load"])
                memory[f"after load at {level}"] = service.rss()
                self.service_logs.append(service.log_path)
            finally:
                self.servers.stop(service)
        return memory

    def _one_service_tests(self, baseline: Server) -> dict[str, float | None]:
        """Paced texts, disconnects and timers on one more service; its memory after."""
        service = self.servers.start_service("service", self.harness.tmp / "ivr.sqlite3",
                                             self.harness.fake_twilio)
        try:
            webhooks_load.warm_up(self.harness, service, baseline)
            self.results["text_to_rest_paced"] = send_latency.paced_texts(self.harness, service)
            self.results["disconnects"] = disconnects.measure_disconnects(self.harness, service)
            self.results["timers"] = timers.measure_timers(self.harness, service)
            memory = service.rss()
            self.results["service_db_rows"] = table_counts(service.db)  # type: ignore[arg-type]
            self.service_logs.append(service.log_path)
        finally:
            self.servers.stop(service)
        return memory


def service_log_summary(paths: list[Path]) -> dict[str, Any]:
    """Errors in the service logs: what the webhooks answered with fallback TwiML."""
    out: dict[str, Any] = {}
    for path in paths:
        lines = path.read_text(errors="replace").splitlines()
        bad = [line for line in lines if " ERROR " in line or "CRITICAL" in line]
        out[path.stem] = {
            "lines": len(lines), "error_lines": len(bad),
            "webhook_failed_inside": sum("webhook failed inside" in line for line in lines),
            "database_is_locked": sum("database is locked" in line for line in lines),
            "ping_failed": sum("database ping failed" in line for line in lines),
            "error_samples": bad[:3]}
    return out


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            # Only the end: porcelain's first line may start with a space (" M path").
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "modified": [l[3:] for l in git("status", "--porcelain").splitlines()
                         if l[:2].strip() and not l[3:].startswith("bench/")]}


# -- the summary ----------------------------------------------------------------------

def memory_lines(results: dict[str, Any]) -> list[str]:
    mem = results.get("memory")
    if not mem:
        return []
    lines = ["", "Resident memory (MB, VmRSS):"]
    for when, values in mem.items():
        lines.append(f"  {when}: " + ", ".join(f"{k} {fmt(v, 1)}" for k, v in values.items()))
    h = results.get("history")
    if h and "memory" in h:
        lines.append("  service on the history db: " + ", ".join(
            f"{k} {fmt(v, 1)}" for k, v in h["memory"]["history"].items()))
    return lines


def service_log_lines(results: dict[str, Any]) -> list[str]:
    logs = results.get("service_log")
    if not logs:
        return []
    return ["", "Service logs: " + "; ".join(
        f"{name}: {v['error_lines']} ERROR lines ({v['database_is_locked']} 'database is "
        f"locked', {v['webhook_failed_inside']} webhooks failed inside)"
        for name, v in logs.items() if v["error_lines"])]


def summary(results: dict[str, Any]) -> str:
    """The table printed at the end, from what results.json holds."""
    sections = (webhooks_load.summary_lines, send_latency.summary_lines,
                disconnects.summary_lines, timers.summary_lines, history_load.summary_lines,
                memory_lines, service_log_lines, baseline_checks.summary_lines,
                engines.summary_lines, peer.summary_lines)
    return "\n".join(line for section in sections for line in section(results))


# -- the entry point ------------------------------------------------------------------

def snapshot_and_reexec(args: argparse.Namespace) -> None:
    """Other people edit ivr/ while a run takes its half hour: run everything
    (this script, the servers, the load generator) from a copy of the source
    taken now, so one run measures one version of the code."""
    snapshot = Path(tempfile.mkdtemp(prefix="ivr-bench-src-"))
    ignore = shutil.ignore_patterns("__pycache__", "profiles", "results*.json", "*.sqlite3*")
    for part in SNAPSHOT_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, snapshot / part, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, snapshot / part)
    env = dict(os.environ)
    env[SNAPSHOT_ENV] = str(snapshot)
    env["IVR_BENCH_GIT"] = json.dumps(git_state())
    env["IVR_BENCH_COMMAND"] = " ".join(["python", "bench/run.py", *sys.argv[1:]])
    out = str(Path(args.out).resolve())
    os.execve(PY, [PY, str(snapshot / "bench" / "run.py"), *sys.argv[1:], "--out", out], env)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--requests", type=int, default=0,
                        help="requests per load run (default 3000; --quick 300)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw")
    parser.add_argument("--patches", default="",
                        help="measure candidate fixes, e.g. indexes "
                             "(see bench/patched_run.py)")
    parser.add_argument("--out", default=str(BENCH / "results.json"))
    parser.add_argument("--engines", action="store_true",
                        help="instead of the above: SQLite vs PostgreSQL vs PostgreSQL on "
                             "two instances (bench/engines.py)")
    parser.add_argument("--peer", action="store_true",
                        help="instead of the above: ivr beside a Flask/gunicorn peer doing the"
                             " same work (bench/peer.py)")
    parser.add_argument("--keep-databases", action="store_true",
                        help="leave the SQLite files in the run's temporary directory")
    parser.add_argument("--live-source", action="store_true",
                        help="run the working tree as it is, not a snapshot of it")
    return parser.parse_args()


def main() -> int:
    args = parse_args()

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # so that the finally below stops every server even when started in the
    # background (where a shell leaves SIGINT ignored) or stopped with SIGTERM
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    if not args.live_source and not os.environ.get(SNAPSHOT_ENV):
        snapshot_and_reexec(args)  # does not return
    bench = Benchmark(args)
    if os.environ.get(SNAPSHOT_ENV):
        bench.results["git"] = json.loads(os.environ.get("IVR_BENCH_GIT", "{}"))
        bench.results["command"] = os.environ.get("IVR_BENCH_COMMAND", bench.results["command"])
        bench.results["source_snapshot"] = os.environ[SNAPSHOT_ENV]
    try:
        bench.run()
    finally:
        with open(args.out, "w") as handle:
            json.dump(bench.results, handle, indent=1, default=str)
        print(summary(bench.results))
        if not args.keep_databases:  # the history database alone is ~450 MB
            for path in bench.harness.tmp.glob("*.sqlite3*"):
                path.unlink(missing_ok=True)
        log(f"results in {args.out}; logs in {bench.harness.tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

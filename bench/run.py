"""Benchmark ivr the way Twilio loads it, against a baseline measured in the
same run (issue 8). Run by hand, never in CI:

    /tmp/venv/bin/python bench/run.py [--quick] [--requests N] [--workers 2]

It starts, all on 127.0.0.1 and all stopped again at the end:
  - a fake Twilio REST API (tests/fake_twilio.py in bench/twilio_sink.py's
    process) that stamps when each REST send arrives;
  - the real service, `run.py --workers W`, on a fresh SQLite file;
  - the baseline: Hypercorn with W workers serving bench/baseline_app.py,
    a bare ASGI app answering one constant TwiML document;
  - for every load run, bench/loadgen.py in its own process.

See bench/README.md for what each figure means. Results: bench/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(BENCH))

from twilio.request_validator import RequestValidator  # noqa: E402
from werkzeug.datastructures import MultiDict  # noqa: E402

from fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET  # noqa: E402
import history  # noqa: E402

PY = sys.executable
CONFIG = REPO / "examples" / "ivr.toml"
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
LINE = "+16195550100"
SERGIO = "+16195550101"
BACKUP = "+18585550199"
LOAD_CUSTOMER_PREFIX = "+1415"   # customers of the load runs: +1415 2000000 onwards
TIMER_CUSTOMER_PREFIX = "+1510"  # customers of the timer tests
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
FMT = "%Y-%m-%dT%H:%M:%S.%fZ"

_counter = itertools.count(1)
_validator = RequestValidator(AUTH_TOKEN)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def now_text(delta: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=delta)).strftime(FMT)


def parse_time(text: str) -> float:
    return datetime.strptime(text, FMT).replace(tzinfo=timezone.utc).timestamp()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    env.update(extra)
    return env


# -- processes ------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log_path: Path
    db: Path | None = None
    pids: list[int] = field(default_factory=list)
    worker_pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def find_workers(self, workers: int) -> None:
        for _ in range(100):
            kids = descendants(self.process.pid)
            spawned = [p for p in kids if "spawn_main" in cmdline(p)]
            if workers <= 1 or len(spawned) >= workers:
                break
            time.sleep(0.1)
        self.pids = [self.process.pid, *kids]
        self.worker_pids = spawned if workers > 1 else [self.process.pid]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def rss(self) -> dict[str, float | None]:
        out = {f"worker {pid}": rss_mb(pid) for pid in self.worker_pids}
        if self.worker_pids != [self.process.pid]:
            out[f"parent {self.process.pid}"] = rss_mb(self.process.pid)
        return out


class Processes:
    """Every process the benchmark starts; all are stopped in `stop_all`."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen:
        process = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen, seconds: float = 15,
             sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            group = os.getpgid(process.pid)
            process.send_signal(sig)
            try:
                process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            # the group is the one this process leads (start_new_session): its workers
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if process in self.started:
            self.started.remove(process)

    def stop_all(self) -> None:
        for process in list(reversed(self.started)):
            try:
                self.stop(process)
            except Exception as exc:  # keep stopping the others
                log(f"could not stop pid {process.pid}: {exc}")


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 30,
                 path: str = "/healthz") -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url + path, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError as exc:
            if getattr(exc, "code", None) and exc.code < 500:  # type: ignore[attr-defined]
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} never became healthy")


class Sink:
    """The fake Twilio in its own process."""

    def __init__(self, procs: Processes, tmp: Path):
        self.log_path = tmp / "twilio_sink.log"
        self.process = procs.start([PY, str(BENCH / "twilio_sink.py")], stdout=subprocess.PIPE,
                                   stderr=open(self.log_path, "w"), text=True)
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("URL "):
            raise RuntimeError(f"the fake Twilio did not start: {line!r}")
        self.url = line.split()[1]

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return json.load(response)

    def count(self) -> int:
        return int(self._get("/bench/state")["messages"])

    def state(self) -> dict[str, Any]:
        return self._get("/bench/state")

    def messages(self, since: int) -> list[list[Any]]:
        return self._get(f"/bench/messages?since={since}")

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def wait_for(self, target: int, seconds: float = 60, settle: float = 0.3) -> tuple[int, float]:
        """Wait until `target` sends arrived (or nothing more arrives for a while)."""
        started, last, last_change = time.time(), -1, time.time()
        while time.time() - started < seconds:
            count = self.count()
            if count >= target:
                return count, time.time() - started
            if count != last:
                last, last_change = count, time.time()
            elif time.time() - last_change > max(settle, 10):
                break
            time.sleep(0.05)
        return self.count(), time.time() - started


# -- requests -------------------------------------------------------------------------

Request = list[Any]  # [method, target, body, headers]


def signed(base: str, target: str, params: list[tuple[str, str]]) -> Request:
    signature = _validator.compute_signature(base + target, MultiDict(params))
    return ["POST", target, urlencode(params), [
        ["Content-Type", "application/x-www-form-urlencoded"],
        ["X-Twilio-Signature", signature],
        ["User-Agent", "TwilioProxy/1.1"],
        ["X-Home-Region", "us1"],
        ["I-Twilio-Idempotency-Token", f"{next(_counter):032x}"],
    ]]


def sms_params(from_: str, body: str, message_sid: str) -> list[tuple[str, str]]:
    """An inbound SMS as Twilio posts it (tests/driver.py sms_params)."""
    return [
        ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", message_sid),
        ("NumMedia", "0"), ("ToCity", "SAN DIEGO"), ("FromZip", "92101"),
        ("SmsSid", message_sid), ("FromState", "CA"), ("SmsStatus", "received"),
        ("FromCity", "SAN DIEGO"), ("Body", body), ("FromCountry", "US"), ("To", LINE),
        ("ToZip", "92101"), ("NumSegments", "1"), ("MessageSid", message_sid),
        ("AccountSid", ACCOUNT_SID), ("From", from_), ("ApiVersion", "2010-04-01"),
    ]


def call_params(call_sid: str, caller: str, status: str = "ringing") -> list[tuple[str, str]]:
    return [
        ("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("CallSid", call_sid),
        ("CallStatus", status), ("Called", LINE), ("CalledCity", "SAN DIEGO"),
        ("CalledCountry", "US"), ("CalledState", "CA"), ("CalledZip", "92101"),
        ("Caller", caller), ("CallerCity", "SAN FRANCISCO"), ("CallerCountry", "US"),
        ("CallerState", "CA"), ("CallerZip", "94103"), ("Direction", "inbound"),
        ("From", caller), ("FromCity", "SAN FRANCISCO"), ("FromCountry", "US"),
        ("FromState", "CA"), ("FromZip", "94103"), ("To", LINE), ("ToCity", "SAN DIEGO"),
        ("ToCountry", "US"), ("ToState", "CA"), ("ToZip", "92101"),
    ]


class Customers:
    """A new customer number and MessageSid for every text that opens a conversation."""

    def __init__(self) -> None:
        self.next = 2_000_000

    def take(self) -> str:
        self.next += 1
        return f"{LOAD_CUSTOMER_PREFIX}{self.next:07d}"


CUSTOMERS = Customers()


def new_texts(base: str, n: int, tag: str) -> tuple[list[Request], list[str]]:
    requests, sids = [], []
    for _ in range(n):
        sid = f"SM{tag}{next(_counter):030x}"[:34]
        body = f"bench-{sid} the bin by the gate is full"
        requests.append(signed(base, "/sms/incoming", sms_params(CUSTOMERS.take(), body, sid)))
        sids.append(sid)
    return requests, sids


def acks(base: str, n: int) -> list[Request]:
    return [signed(base, "/sms/incoming", sms_params(SERGIO, "ACK", f"SM{next(_counter):032x}"))
            for _ in range(n)]


def new_calls(base: str, n: int) -> tuple[list[Request], list[str]]:
    requests, sids = [], []
    for _ in range(n):
        sid = f"CA{next(_counter):032x}"
        requests.append(signed(base, "/voice/incoming", call_params(sid, CUSTOMERS.take())))
        sids.append(sid)
    return requests, sids


def dial_actions(base: str, twiml_and_sids: Iterable[tuple[str | None, str]]) -> list[Request]:
    """The Dial action of each call's first TwiML, posted as Twilio does after
    a tier nobody answered (no-answer, not bridged)."""
    out = []
    for body, call_sid in twiml_and_sids:
        if not body:
            continue
        try:
            dial = ET.fromstring(body).find(".//Dial")
        except ET.ParseError:
            continue
        if dial is None or not dial.get("action", "").startswith(base):
            continue
        target = dial.get("action")[len(base):]  # type: ignore[index]
        params = call_params(call_sid, "+14150000000", status="in-progress")
        params = [(k, v) for k, v in params if k not in ("From", "Caller")]
        params += [("From", "+14150000000"), ("Caller", "+14150000000"),
                   ("DialCallStatus", "no-answer"), ("DialCallSid", f"CA{next(_counter):032x}"),
                   ("DialBridged", "false")]
        out.append(signed(base, target, params))
    return out


def baseline_like(service_requests: list[Request], base_url: str) -> list[Request]:
    """The same bodies and headers, sent to the baseline (which ignores them)."""
    return [[m, t, b, h] for m, t, b, h in service_requests]


# -- load runs ----------------------------------------------------------------------

@dataclass
class Run:
    server: str
    n: int
    ok: int
    errors: int
    aborted: int
    elapsed: float
    latencies: list[float]
    server_cpu: float
    client_cpu: float
    sink_cpu: float
    results: list[Any]
    error_samples: list[str]
    sids: list[str] = field(default_factory=list)
    drain_seconds: float = 0.0


def load(server: Server, requests: list[Request], concurrency: int, *, tmp: Path,
         client: str, keep_body: bool = False, abort_every: int = 0, pace_ms: float = 0,
         sink: Sink | None = None, expected_sends: int = 0, time_limit: float = 300) -> Run:
    spec_path, out_path = tmp / "spec.json", tmp / "out.json"
    with open(spec_path, "w") as handle:
        json.dump({"port": server.port, "concurrency": concurrency, "client": client,
                   "requests": requests, "keep_body": keep_body, "abort_every": abort_every,
                   "abort_delay_ms": 3, "pace_ms": pace_ms, "time_limit": time_limit}, handle)
    before_sends = sink.count() if sink else 0
    cpu_before = server.cpu()
    sink_before = sink.cpu() if sink else 0.0
    subprocess.run([PY, str(BENCH / "loadgen.py"), str(spec_path), str(out_path)], check=True,
                   timeout=time_limit + 120)
    drained = 0.0
    if sink is not None and expected_sends:
        # the REST sends these requests caused are part of their cost
        drained = quiesce(server.db)
        sink.wait_for(before_sends + expected_sends, seconds=5)
    cpu_after = server.cpu()
    with open(out_path) as handle:
        out = json.load(handle)
    results = [r for r in out["results"] if r is not None]
    ok = [r for r in results if r[2] == 200]
    aborted = sum(1 for r in results if r[2] == "aborted")
    bad = [r for r in results if r[2] not in (200, "aborted")]
    samples = sorted({(r[3] or f"HTTP {r[2]}")[:120] for r in bad})[:5]
    return Run(server.name, len(results), len(ok), len(bad), aborted, out["elapsed"],
               [r[1] for r in ok], cpu_after - cpu_before, out["client_cpu"],
               (sink.cpu() - sink_before) if sink else 0.0, out["results"], samples,
               drain_seconds=drained)


def summarise(runs: list[Run]) -> dict[str, Any]:
    n = sum(r.n for r in runs)
    ok = sum(r.ok for r in runs)
    elapsed = sum(r.elapsed for r in runs)
    latencies = [x for r in runs for x in r.latencies]
    done = max(ok + sum(r.errors for r in runs), 1)
    return {
        "requests": n, "ok": ok, "errors": sum(r.errors for r in runs),
        "aborted": sum(r.aborted for r in runs),
        "rps": ok / elapsed if elapsed else 0.0,
        "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
        "max_ms": max(latencies) if latencies else None,
        "cpu_s_per_1000": sum(r.server_cpu for r in runs) / done * 1000,
        "client_cpu_s_per_1000": sum(r.client_cpu for r in runs) / done * 1000,
        "fake_twilio_cpu_s_per_1000": sum(r.sink_cpu for r in runs) / done * 1000,
        "error_samples": sorted({s for r in runs for s in r.error_samples})[:5],
        "runs_rps": [round(r.ok / r.elapsed, 1) if r.elapsed else 0 for r in runs],
        "outbox_drain_after_run_s": [round(r.drain_seconds, 1) for r in runs],
    }


def ratios(service: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    def ratio(key: str) -> float | None:
        a, b = service.get(key), baseline.get(key)
        return round(a / b, 3) if a is not None and b else None
    return {"rps": ratio("rps"), "p50": ratio("p50_ms"), "p99": ratio("p99_ms"),
            "cpu": ratio("cpu_s_per_1000")}


# -- the database, from the side ----------------------------------------------------

def connect(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db, timeout=30, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 30000")
    return con


def cancel_timers(db: Path) -> int:
    con = connect(db)
    try:
        con.execute("BEGIN IMMEDIATE")
        n = con.execute("UPDATE timers SET state = 'cancelled' WHERE state = 'pending'").rowcount
        con.execute("COMMIT")
        return n
    finally:
        con.close()


def retire(db: Path, only_prefixes: tuple[str, ...] | None = None) -> int:
    """Close what the load runs opened and date it three days back, so the next
    run starts with the open set a real line has instead of every conversation
    the benchmark ever opened (a line's codes are chosen among its open ones and
    those of the last day). Also cancels every pending timer, so no ACK timeout
    of an earlier run fires during a later one."""
    past = now_text(-3 * 86400)
    con = connect(db)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("UPDATE timers SET state = 'cancelled' WHERE state = 'pending'")
        where, params = "status = 'open'", []
        if only_prefixes:
            where += " AND (" + " OR ".join("customer LIKE ?" for _ in only_prefixes) + ")"
            params = [p + "%" for p in only_prefixes]
        n = con.execute(f"UPDATE conversations SET status = 'closed', opened_at = ?,"
                        f" closed_at = ? WHERE {where}", (past, past, *params)).rowcount
        # and those closed earlier but still within the last day
        con.execute("UPDATE conversations SET opened_at = ?, closed_at = ? WHERE"
                    " status = 'closed' AND (opened_at > ? OR closed_at > ?)"
                    + (" AND (" + " OR ".join("customer LIKE ?" for _ in only_prefixes) + ")"
                       if only_prefixes else ""),
                    (past, past, past, past, *params))
        # the codes those conversations held are free again, as three days on
        con.execute("UPDATE line_codes SET reusable_at = ? WHERE (line_id, code) NOT IN"
                    " (SELECT line_id, code FROM conversations WHERE status = 'open')", (past,))
        con.execute("COMMIT")
        return n
    finally:
        con.close()


def check_texts(db: Path, sids: Iterable[str]) -> dict[str, str]:
    """For each MessageSid of a text that opened a conversation: 'complete'
    (the inbound row with its stored reply, its conversation, >= 3 decision
    rows with that SID, the page in the outbox and the ACK timer), 'absent'
    (nothing at all: the request never reached the handler), or 'partial: …'."""
    con = connect(db)
    states = {}
    try:
        for sid in sids:
            row = con.execute(
                "SELECT m.reply_twiml, m.conversation_id,"
                " (SELECT COUNT(*) FROM conversations c WHERE c.id = m.conversation_id),"
                " (SELECT COUNT(*) FROM decisions d WHERE d.sid = m.message_sid),"
                " (SELECT COUNT(*) FROM outbox o WHERE o.conversation_id = m.conversation_id"
                "   AND o.purpose = 'page'),"
                " (SELECT COUNT(*) FROM timers t WHERE t.conversation_id = m.conversation_id)"
                " FROM inbound_messages m WHERE m.message_sid = ?", (sid,)).fetchone()
            if row is None:
                decisions = con.execute("SELECT COUNT(*) FROM decisions WHERE sid = ?",
                                        (sid,)).fetchone()[0]
                states[sid] = "absent" if decisions == 0 else "partial: decisions without inbound"
                continue
            reply, conversation, conversations, decisions, pages, timers = row
            missing = [what for what, bad in (
                ("reply", not reply), ("conversation", not conversation or not conversations),
                ("decisions", decisions < 3), ("page", pages < 1), ("timer", timers < 1)) if bad]
            states[sid] = "complete" if not missing else "partial: no " + ", ".join(missing)
    finally:
        con.close()
    return states


def unsent(db: Path) -> int:
    con = connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"
                           ).fetchone()[0]
    finally:
        con.close()


def quiesce(db: Path | None, seconds: float = 300) -> float:
    """Wait until the service's outbox has sent everything it holds."""
    started = time.time()
    if db is None:
        return 0.0
    while time.time() - started < seconds and unsent(db):
        time.sleep(0.1)
    return time.time() - started


def integrity(db: Path) -> str:
    con = connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def table_counts(db: Path) -> dict[str, int]:
    con = connect(db)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("decisions", "conversations", "outbox", "timers", "calls")}
    finally:
        con.close()


# -- the benchmark --------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.quick = args.quick
        self.n = args.requests or (300 if args.quick else 3000)
        self.workers = args.workers
        self.client = args.client
        self.levels = [1, 16, 64]
        self.procs = Processes()
        self.logs: list[Path] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
        self.results: dict[str, Any] = {
            "command": " ".join([Path(PY).name, *sys.argv]),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "settings": {"requests_per_run": self.n, "workers": self.workers,
                         "client": self.client, "levels": self.levels, "quick": self.quick,
                         "patches": args.patches or None},
            "git": git_state(),
        }

    # servers

    def start_service(self, name: str, db: Path, sink: Sink) -> Server:
        port = free_port()
        public = f"http://127.0.0.1:{port}"
        env = clean_environ(TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                            TWILIO_API_KEY=API_KEY, TWILIO_API_SECRET=API_SECRET,
                            TWILIO_API_BASE=sink.url, IVR_PUBLIC_BASE_URL=public,
                            IVR_DATABASE=str(db))
        log_path = self.tmp / f"{name}.log"
        launcher = REPO / "run.py"
        if self.args.patches:
            launcher = BENCH / "patched_run.py"
            env["IVR_BENCH_PATCHES"] = self.args.patches
        process = self.procs.start(
            [PY, str(launcher), "--config", str(CONFIG), "--bind", f"127.0.0.1:{port}",
             "--workers", str(self.workers)],
            cwd=self.tmp, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
        server = Server(name, process, port, log_path, db)
        wait_healthy(public, process)
        server.find_workers(self.workers)
        return server

    def start_baseline(self, name: str = "baseline", app: str = "baseline_app:app") -> Server:
        port = free_port()
        log_path = self.tmp / f"{name}.log"
        process = self.procs.start(
            [PY, str(BENCH / "baseline_server.py"), "--bind", f"127.0.0.1:{port}",
             "--workers", str(self.workers), "--app", app],
            cwd=self.tmp, env=clean_environ(), stdout=open(log_path, "w"),
            stderr=subprocess.STDOUT)
        server = Server(name, process, port, log_path)
        wait_healthy(server.url, process, path="/")
        server.find_workers(self.workers)
        return server

    def run(self) -> None:
        try:
            sink = Sink(self.procs, self.tmp)
            self.sink = sink
            baseline = self.start_baseline()
            log(f"baseline {baseline.url}, fake Twilio {sink.url}, tmp {self.tmp}")
            self.results["client_check"] = self.client_check(baseline)
            self.results["quart_floor"] = self.quart_floor(baseline)
            self.results["load"] = {}
            memory: dict[str, Any] = {}
            for level in self.levels:
                # each level on a fresh database, so every level starts from the same state
                service = self.start_service(f"service-c{level}",
                                             self.tmp / f"ivr-c{level}.sqlite3", sink)
                log(f"--- {level} connection(s): service {service.url} (pids {service.pids})")
                try:
                    self.warm_up(service, baseline)
                    self.load_level(service, baseline, level, self.results["load"])
                    memory[f"after load at {level}"] = service.rss()
                    self.logs.append(service.log_path)
                finally:
                    self.procs.stop(service.process)
            service = self.start_service("service", self.tmp / "ivr.sqlite3", sink)
            try:
                self.warm_up(service, baseline)
                self.results["text_to_rest_paced"] = self.paced_texts(service)
                self.results["disconnects"] = self.disconnects(service)
                self.results["timers"] = self.timers(service)
                memory["after disconnects and timers"] = service.rss()
                self.results["service_db_rows"] = table_counts(service.db)  # type: ignore[arg-type]
                self.logs.append(service.log_path)
            finally:
                self.procs.stop(service.process)
            memory["baseline"] = baseline.rss()
            self.results["memory"] = memory
            self.results["fake_twilio"] = sink.state()
            self.procs.stop(baseline.process)
            self.results["history"] = self.history(sink)
            self.results["service_log"] = self.log_summary()
        finally:
            self.procs.stop_all()
        self.results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    # the parts

    def client_check(self, baseline: Server) -> dict[str, Any]:
        """How fast each client can drive the baseline at 64 connections, and
        what it costs in client CPU: says whether the client is the bottleneck."""
        out = {}
        n = self.n
        for client in ("raw", "aiohttp"):
            requests, _ = new_texts(baseline.url, n, "c")
            run = load(baseline, requests, 64, tmp=self.tmp, client=client)
            s = summarise([run])
            out[client] = {k: s[k] for k in ("rps", "p50_ms", "p99_ms", "cpu_s_per_1000",
                                             "client_cpu_s_per_1000", "errors")}
            log(f"client check {client}: {s['rps']:.0f} req/s, client CPU "
                f"{s['client_cpu_s_per_1000']:.3f} s/1000")
        return out

    def quart_floor(self, baseline: Server) -> dict[str, Any]:
        """Quart parsing the form and answering a constant, against the baseline:
        the framework's share before ivr does anything."""
        floor = self.start_baseline("quart-floor", "quart_floor:app")
        out = {}
        try:
            texts, _ = new_texts(floor.url, max(self.n // 10, 100), "w")
            load(floor, texts, 16, tmp=self.tmp, client=self.client)
            for level in (1, 64):
                runs: dict[str, list[Run]] = {"quart": [], "baseline": []}
                for _ in range(2):
                    for key, server in (("baseline", baseline), ("quart", floor)):
                        texts, _ = new_texts(server.url, self.n, "f")
                        runs[key].append(load(server, texts, level, tmp=self.tmp,
                                              client=self.client))
                q, b = summarise(runs["quart"]), summarise(runs["baseline"])
                out[level] = {"quart": q, "baseline": b, "ratio": ratios(q, b)}
                log(f"quart floor c={level}: {q['rps']:.0f} req/s p50 {q['p50_ms']:.2f} p99 "
                    f"{q['p99_ms']:.2f} ms cpu {q['cpu_s_per_1000']:.2f} s/1k | baseline "
                    f"{b['rps']:.0f} req/s | x{out[level]['ratio']['rps']} rps")
        finally:
            self.procs.stop(floor.process)
        return out

    def warm_up(self, service: Server, baseline: Server) -> None:
        n = max(self.n // 10, 100)
        texts, _ = new_texts(service.url, n, "w")
        load(service, texts, 16, tmp=self.tmp, client=self.client, keep_body=True)
        load(service, acks(service.url, n), 16, tmp=self.tmp, client=self.client)
        calls, sids = new_calls(service.url, n)
        run = load(service, calls, 16, tmp=self.tmp, client=self.client, keep_body=True)
        dials = dial_actions(service.url, ((r[4], s) for r, s in zip(run.results, sids) if r))
        load(service, dials, 16, tmp=self.tmp, client=self.client)
        load(baseline, texts, 16, tmp=self.tmp, client=self.client)
        self.sink.wait_for(self.sink.count() + 1, seconds=2)
        retire(service.db)  # type: ignore[arg-type]

    def _abab(self, service: Server, baseline: Server, make: Callable[[], list[Request]],
              concurrency: int, *, expected_sends: int = 0, keep_body: bool = True,
              check: Callable[[Run, list[Request]], None] | None = None
              ) -> tuple[dict[str, Any], dict[str, Any], list[Run], list[list[Request]]]:
        base_runs, svc_runs, svc_requests = [], [], []
        for _ in range(2):
            requests = make()
            base_runs.append(load(baseline, baseline_like(requests, baseline.url), concurrency,
                                  tmp=self.tmp, client=self.client))
            run = load(service, requests, concurrency, tmp=self.tmp, client=self.client,
                       keep_body=keep_body, sink=self.sink,
                       expected_sends=expected_sends * len(requests))
            run.sids = _sids_of(requests)
            if check:
                check(run, requests)
            svc_runs.append(run)
            svc_requests.append(requests)
        return summarise(svc_runs), summarise(base_runs), svc_runs, svc_requests

    def load_level(self, service: Server, baseline: Server, level: int,
                   out: dict[str, Any]) -> None:
        db = service.db
        assert db is not None
        # 1. /sms/incoming: a new customer each time, opening a conversation
        text_sids: list[str] = []
        wrong = {"sms": 0, "ack": 0, "voice": 0, "dial": 0}

        def make_texts() -> list[Request]:
            requests, sids = new_texts(service.url, self.n, "t")
            text_sids.extend(sids)
            return requests

        def check_sms(run: Run, requests: list[Request]) -> None:
            wrong["sms"] += _answered_without(run, "will reply shortly")
            cancel_timers(db)  # no ACK timeout of this run may fire in a later one

        sink_before = self.sink.count()
        svc, base, runs, reqs = self._abab(service, baseline, make_texts, level,
                                           expected_sends=1, check=check_sms)
        latency = self.text_to_rest(runs, sink_before)
        states = check_texts(db, text_sids)
        ok_sids = [sid for run, rq in zip(runs, reqs) for r, sid in
                   zip(run.results, _sids_of(rq)) if r and r[2] == 200]
        lost = sum(1 for sid in ok_sids if states.get(sid) != "complete")
        svc.update({"bad_answers": wrong["sms"], "lost_after_200": lost,
                    "drift_p50_first_last_10pct": _drift(runs)})
        self._record(out, "sms_incoming", level, svc, base, text_to_rest=latency)

        # 2. a responder's ACK: takes the latest conversation paged to them
        def make_acks() -> list[Request]:
            return acks(service.url, self.n)

        def check_ack(run: Run, requests: list[Request]) -> None:
            wrong["ack"] += _answered_without(run, "is yours")

        svc, base, _, _ = self._abab(service, baseline, make_acks, level, expected_sends=1,
                                     check=check_ack)
        svc["bad_answers"] = wrong["ack"]
        self._record(out, "ack", level, svc, base)
        retire(db)

        # 3. /voice/incoming, then 4. its Dial action with no-answer: the next tier
        call_sids: list[str] = []

        def make_calls() -> list[Request]:
            requests, sids = new_calls(service.url, self.n)
            call_sids.extend(sids)
            return requests

        def check_voice(run: Run, requests: list[Request]) -> None:
            wrong["voice"] += _answered_without(run, "<Dial")

        svc, base, runs, _ = self._abab(service, baseline, make_calls, level,
                                        check=check_voice)
        svc["bad_answers"] = wrong["voice"]
        self._record(out, "voice_incoming", level, svc, base)
        bodies = [(r[4] if r and r[2] == 200 else None) for run in runs for r in run.results]
        actions = dial_actions(service.url, zip(bodies, call_sids))
        chunks = iter([actions[:len(actions) // 2], actions[len(actions) // 2:]])

        def check_dial(run: Run, requests: list[Request]) -> None:
            wrong["dial"] += _answered_without(run, BACKUP)

        svc, base, _, _ = self._abab(service, baseline, lambda: next(chunks), level,
                                     check=check_dial)
        svc["bad_answers"] = wrong["dial"]
        self._record(out, "dial_next_tier", level, svc, base)
        retire(db)
        con = connect(db)
        try:
            out.setdefault("escalations_during_load", {})[level] = con.execute(
                "SELECT COUNT(*) FROM decisions WHERE kind IN ('escalated', 'unanswered')"
            ).fetchone()[0]
        finally:
            con.close()

    def _record(self, out: dict[str, Any], name: str, level: int, svc: dict[str, Any],
                base: dict[str, Any], **extra: Any) -> None:
        out.setdefault(name, {})[level] = {"service": svc, "baseline": base,
                                           "ratio": ratios(svc, base), **extra}
        self._print_row(name, level, svc, base)

    def _print_row(self, name: str, level: int, svc: dict[str, Any],
                   base: dict[str, Any]) -> None:
        r = ratios(svc, base)
        log(f"{name:15} c={level:<3} service {svc['rps']:7.0f} req/s p50 {svc['p50_ms']:7.2f} "
            f"p99 {svc['p99_ms']:7.2f} ms cpu {svc['cpu_s_per_1000']:.2f} s/1k err "
            f"{svc['errors']} | baseline {base['rps']:7.0f} req/s p50 {base['p50_ms']:6.2f} "
            f"p99 {base['p99_ms']:6.2f} | x{r['rps']} rps, x{r['p99']} p99")

    def text_to_rest(self, runs: list[Run], since: int) -> dict[str, Any]:
        """Inbound text -> the fake Twilio receiving the page, by the token in the body."""
        arrivals: dict[str, float] = {}
        for t, to, body in self.sink.messages(since):
            match = re.search(r"bench-(SM\w+)", body)
            if match and to == SERGIO:
                arrivals.setdefault(match.group(1), t)
        from_sent, from_answer, missing = [], [], 0
        # the token is the MessageSid, and run.sids holds them in request order
        for run in runs:
            for result, sid in zip(run.results, run.sids):
                if not result or result[2] != 200:
                    continue
                if sid not in arrivals:
                    missing += 1
                    continue
                from_sent.append((arrivals[sid] - result[0]) * 1000)
                from_answer.append((arrivals[sid] - result[0]) * 1000 - result[1])
        return {"from_request_p50_ms": pct(from_sent, 50), "from_request_p99_ms": pct(from_sent, 99),
                "from_answer_p50_ms": pct(from_answer, 50),
                "from_answer_p99_ms": pct(from_answer, 99),
                "max_ms": max(from_sent) if from_sent else None, "never_sent": missing,
                "n": len(from_sent)}

    def paced_texts(self, service: Server) -> dict[str, Any]:
        """One text at a time, 20 ms apart: the pipeline's own latency."""
        n = 60 if self.quick else 500
        quiesce(service.db)
        since = self.sink.count()
        requests, sids = new_texts(service.url, n, "p")
        run = load(service, requests, 1, tmp=self.tmp, client=self.client, pace_ms=20,
                   keep_body=True, sink=self.sink, expected_sends=n)
        run.sids = sids
        result = self.text_to_rest([run], since)
        result["webhook_p50_ms"] = pct(run.latencies, 50)
        result["webhook_p99_ms"] = pct(run.latencies, 99)
        retire(service.db)  # type: ignore[arg-type]
        log(f"text -> REST send, paced: p50 {result['from_request_p50_ms']:.1f} ms, p99 "
            f"{result['from_request_p99_ms']:.1f} ms (from the request being sent)")
        return result

    def disconnects(self, service: Server) -> dict[str, Any]:
        """64 connections; every 10th request is sent on its own connection that
        is closed 0-3 ms after the request was written."""
        db = service.db
        assert db is not None
        n = self.n * 2
        requests, sids = new_texts(service.url, n, "d")
        before_conversations = table_counts(db)["conversations"]
        run = load(service, requests, 64, tmp=self.tmp, client=self.client, keep_body=True,
                   abort_every=10)
        health = []  # /healthz right after the run, then until it is 200 (at most 60 s)
        started = time.time()
        while time.time() - started < 60:
            try:
                with urllib.request.urlopen(service.url + "/healthz", timeout=10) as response:
                    code = response.status
            except urllib.error.HTTPError as exc:
                code = exc.code
            except OSError:
                code = 0
            health.append([round(time.time() - started, 2), code])
            if code == 200:
                break
            time.sleep(0.5)
        healthy = health[-1][1] == 200
        drained = quiesce(db)
        probe_requests, probe_sids = new_texts(service.url, 1, "q")
        probe = load(service, probe_requests, 1, tmp=self.tmp, client=self.client,
                     keep_body=True)
        answers = probe.ok == 1 and "will reply shortly" in (probe.results[0][4] or "")
        states = check_texts(db, sids)
        ok_sids = [sid for r, sid in zip(run.results, sids) if r and r[2] == 200]
        abandoned = [sid for r, sid in zip(run.results, sids) if r and r[2] == "aborted"]
        conversations = table_counts(db)["conversations"] - before_conversations - 1
        summary = summarise([run])
        result = {
            "requests": n, "ok": run.ok, "errors": run.errors, "error_samples": run.error_samples,
            "bad_answers": sum(1 for r in run.results if r and r[2] == 200
                               and "will reply shortly" not in (r[4] or "")),
            "abandoned": len(abandoned), "rps": summary["rps"], "p50_ms": summary["p50_ms"],
            "p99_ms": summary["p99_ms"],
            "healthz_after": healthy, "healthz_first": health[0][1],
            "healthz_200_after_s": health[-1][0] if healthy else None,
            "outbox_drain_after_s": round(drained, 1), "answers_after": answers,
            "integrity_check": integrity(db),
            "ok_but_not_complete": sum(1 for s in ok_sids if states[s] != "complete"),
            "abandoned_complete": sum(1 for s in abandoned if states[s] == "complete"),
            "abandoned_absent": sum(1 for s in abandoned if states[s] == "absent"),
            "abandoned_partial": sum(1 for s in abandoned if states[s].startswith("partial")),
            "partial_samples": sorted({states[s] for s in abandoned + ok_sids
                                       if states[s].startswith("partial")})[:5],
            "conversations_opened": conversations,
            "conversations_expected": run.ok + sum(1 for s in abandoned
                                                   if states[s] == "complete"),
        }
        retire(db)
        log(f"disconnects: {json.dumps({k: v for k, v in result.items() if k != 'error_samples'})}")
        return result

    def timers(self, service: Server) -> dict[str, Any]:
        db = service.db
        assert db is not None
        total = 1000 if self.quick else 10_000
        out = {}
        # (a) 10,000 pending, a few hundred of them due in the next ~10 s
        due_now = 100 if self.quick else 500
        out["backlog"] = self._timer_test(service, db, total=total, due_soon=due_now,
                                          prefix_start=0)
        # (b) all 10,000 due within ~10 s: a burst the sweeper and outbox must absorb
        out["burst"] = self._timer_test(service, db, total=total, due_soon=total,
                                        prefix_start=total)
        return out

    def _timer_test(self, service: Server, db: Path, total: int, due_soon: int,
                    prefix_start: int) -> dict[str, Any]:
        retire(db)
        quiesce(db)
        con = connect(db)
        start_in, spread = 3.0, 10.0
        try:
            con.execute("BEGIN IMMEDIATE")
            first_id = (con.execute("SELECT MAX(id) FROM conversations").fetchone()[0] or 0) + 1
            now = datetime.now(timezone.utc)
            opened = (now - timedelta(seconds=100)).strftime(FMT)
            conversations, inbound, pages, timers = [], [], [], []
            due: dict[int, str] = {}
            for i in range(total):
                cid = first_id + i
                customer = f"{TIMER_CUSTOMER_PREFIX}{2_000_000 + prefix_start + i:07d}"
                conversations.append((cid, "qdn", customer, i + 1, "sms", "open", 0, opened))
                inbound.append((f"SMtimer{cid:026x}", "qdn", customer, cid,
                                f"timer test {cid}", opened))
                pages.append((cid, "sergio", 0, opened))
                if i < due_soon:
                    at = now + timedelta(seconds=start_in + spread * i / max(due_soon, 1))
                else:
                    at = now + timedelta(hours=1, seconds=i)
                due[cid] = at.strftime(FMT)
                timers.append((cid, 0, due[cid]))
            con.executemany("INSERT INTO conversations (id, line_id, customer, code, origin,"
                            " status, tier, opened_at) VALUES (?,?,?,?,?,?,?,?)", conversations)
            # the codes they hold, as the service's own open_conversation records them
            con.executemany("INSERT INTO line_codes (line_id, code, reusable_at) VALUES (?, ?, NULL)"
                            " ON CONFLICT (line_id, code) DO UPDATE SET reusable_at = NULL",
                            [(c[1], c[3]) for c in conversations])
            con.executemany("INSERT INTO inbound_messages (message_sid, line_id, sender,"
                            " conversation_id, body, media_urls, received_at, reply_twiml)"
                            " VALUES (?,?,?,?,?,'[]',?,'')", inbound)
            con.executemany("INSERT INTO pages (conversation_id, responder_id, tier, paged_at)"
                            " VALUES (?,?,?,?)", pages)
            con.executemany("INSERT INTO timers (conversation_id, kind, tier, due_at, state)"
                            " VALUES (?, 'ack_timeout', ?, ?, 'pending')", timers)
            con.execute("COMMIT")
        finally:
            con.close()
        since = self.sink.count()
        cpu_before = service.cpu()
        soon = {cid for cid, at in due.items()
                if parse_time(at) < time.time() + start_in + spread + 1}
        expected_sends = 3 * len(soon)  # the next tier, a notice to tier 1, the customer
        deadline = time.time() + start_in + spread + (60 if len(soon) <= 1000 else 240)
        con = connect(db)
        try:
            while time.time() < deadline:
                fired = con.execute(
                    "SELECT COUNT(*) FROM timers WHERE state = 'fired' AND conversation_id >= ?"
                    " AND conversation_id < ?", (first_id, first_id + len(soon))).fetchone()[0]
                if fired >= len(soon) and self.sink.count() >= since + expected_sends:
                    break
                time.sleep(0.2)
            rows = con.execute(
                "SELECT conversation_id, due_at, fired_at, state FROM timers WHERE"
                " conversation_id >= ? AND conversation_id < ? AND tier = 0",
                (first_id, first_id + total)).fetchall()
            sent_at = dict(con.execute(
                "SELECT conversation_id, MIN(sent_at) FROM outbox WHERE conversation_id >= ?"
                " AND conversation_id < ? GROUP BY conversation_id",
                (first_id, first_id + total)).fetchall())
        finally:
            con.close()
        cpu = service.cpu() - cpu_before
        # map each send at the fake Twilio to its conversation: by the customer's
        # number, or by the code in "[QDN #code]" (codes are 1..total here)
        by_customer = {f"{TIMER_CUSTOMER_PREFIX}{2_000_000 + prefix_start + i:07d}": first_id + i
                       for i in range(total)}
        first_send: dict[int, float] = {}
        last_send: dict[int, float] = {}
        messages = self.sink.messages(since)
        for t, to, body in messages:
            cid = by_customer.get(to)
            if cid is None:
                match = re.search(r"#(\d+)\]", body)
                cid = first_id + int(match.group(1)) - 1 if match else None
            if cid is None:
                continue
            first_send[cid] = min(first_send.get(cid, t), t)
            last_send[cid] = max(last_send.get(cid, t), t)
        fire_late, send_late, all_sent_late, outbox_late = [], [], [], []
        unfired = 0
        for cid, due_at, fired_at, state in rows:
            if cid not in soon:
                continue
            if state != "fired" or not fired_at:
                unfired += 1
                continue
            d = parse_time(due_at)
            fire_late.append((parse_time(fired_at) - d) * 1000)
            if cid in first_send:
                send_late.append((first_send[cid] - d) * 1000)
                all_sent_late.append((last_send[cid] - d) * 1000)
            if sent_at.get(cid):
                outbox_late.append((parse_time(sent_at[cid]) - d) * 1000)
        fired_times = sorted(parse_time(r[2]) for r in rows if r[2])
        span = (fired_times[-1] - fired_times[0]) if len(fired_times) > 1 else 0
        result = {
            "pending": total, "due_in_window": len(soon), "window_s": spread, "unfired": unfired,
            "fire_late_p50_ms": pct(fire_late, 50), "fire_late_p99_ms": pct(fire_late, 99),
            "fire_late_max_ms": max(fire_late) if fire_late else None,
            "send_started_late_p50_ms": pct(send_late, 50),
            "send_started_late_p99_ms": pct(send_late, 99),
            "send_started_late_max_ms": max(send_late) if send_late else None,
            "all_three_sent_late_p99_ms": pct(all_sent_late, 99),
            "outbox_sent_at_late_p99_ms": pct(outbox_late, 99),
            "sends_expected": expected_sends, "sends_seen": len(messages),
            "fired_per_s": (len(fired_times) / span) if span else None,
            "service_cpu_s": cpu,
        }
        retire(db)
        log(f"timers ({len(soon)} of {total} due within {spread:.0f} s): fired late p50 "
            f"{result['fire_late_p50_ms']} p99 {result['fire_late_p99_ms']} ms; send started "
            f"late p99 {result['send_started_late_p99_ms']} ms; unfired {unfired}")
        return result

    def history(self, sink: Sink) -> dict[str, Any]:
        decisions = 100_000 if self.quick else 1_000_000
        conversations = 10_000 if self.quick else 100_000
        big_db = self.tmp / "history.sqlite3"
        log(f"building a history of {decisions} decisions and {conversations} conversations")
        built = history.build(big_db, decisions, conversations)
        log(f"built: {built}")
        empty = self.start_service("service-empty", self.tmp / "empty.sqlite3", sink)
        big = self.start_service("service-history", big_db, sink)
        self.logs += [empty.log_path, big.log_path]
        n = min(self.n, 1000)  # the history service may be slow: keep each run bounded
        out: dict[str, Any] = {"built": built}
        try:
            cold_text, _ = new_texts(big.url, 1, "k")
            cold = load(big, cold_text, 1, tmp=self.tmp, client=self.client)
            out["first_text_on_history_ms"] = cold.latencies[0] if cold.latencies else None
            for server in (empty, big):
                warm, _ = new_texts(server.url, max(self.n // 10, 100), "w")
                load(server, warm, 16, tmp=self.tmp, client=self.client)
                retire(server.db, (LOAD_CUSTOMER_PREFIX,))  # type: ignore[arg-type]
            runs: dict[str, list[Run]] = {"empty": [], "history": []}
            lost = {"empty": 0, "history": 0}
            for _ in range(2):
                for key, server in (("empty", empty), ("history", big)):
                    quiesce(server.db)
                    requests, sids = new_texts(server.url, n, "h")
                    run = load(server, requests, 16, tmp=self.tmp, client=self.client,
                               keep_body=True, sink=sink, expected_sends=len(requests))
                    states = check_texts(server.db, sids)  # type: ignore[arg-type]
                    lost[key] += sum(1 for r, s in zip(run.results, sids)
                                     if r and r[2] == 200 and states[s] != "complete")
                    runs[key].append(run)
                    retire(server.db, (LOAD_CUSTOMER_PREFIX,))  # type: ignore[arg-type]
            e, h = summarise(runs["empty"]), summarise(runs["history"])
            e["lost_after_200"], h["lost_after_200"] = lost["empty"], lost["history"]
            out["sms_incoming_16"] = {"empty": e, "history": h, "ratio": ratios(h, e)}
            log(f"history: /sms/incoming at 16: empty p50 {e['p50_ms']:.2f} p99 "
                f"{e['p99_ms']:.2f} ms {e['rps']:.0f} req/s; history p50 {h['p50_ms']:.2f} "
                f"p99 {h['p99_ms']:.2f} ms {h['rps']:.0f} req/s")
            # a bare ACK when nothing waits for one: looks through all of the responder's pages
            probes = {}
            for key, server in (("empty", empty), ("history", big)):
                run = load(server, acks(server.url, 50 if self.quick else 200), 1,
                           tmp=self.tmp, client=self.client, keep_body=True)
                probes[key] = {"p50_ms": pct(run.latencies, 50),
                               "p99_ms": pct(run.latencies, 99),
                               "nothing_to_ack": sum(1 for r in run.results
                                                     if r and "Nothing is waiting" in (r[4] or ""))}
            out["bare_ack_nothing_waiting_1conn"] = probes
            if self.args.patches:
                import patched_run  # noqa: F401 - applies IVR_BENCH_PATCHES in this process
                patched_run.apply(self.args.patches)
            out["dashboard_queries_ms"] = {
                "history": asyncio.run(dashboard_queries(big_db)),
                "empty": asyncio.run(dashboard_queries(self.tmp / "empty.sqlite3")),
            }
            for name, ms in out["dashboard_queries_ms"]["history"].items():
                log(f"dashboard {name:36} {ms['median_ms']:8.2f} ms (first {ms['first_ms']:.2f})")
            out["memory"] = {"history": big.rss(), "empty": empty.rss()}
            out["db_rows"] = table_counts(big_db)
        finally:
            self.procs.stop(big.process)
            self.procs.stop(empty.process)
        return out

    def log_summary(self) -> dict[str, Any]:
        """Errors in the service logs: what the webhooks answered with fallback TwiML."""
        out: dict[str, Any] = {}
        for path in self.logs:
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
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "modified": [l[3:] for l in git("status", "--porcelain").splitlines()
                         if l[:2].strip() and not l[3:].startswith("bench/")]}


def _answered_without(run: Run, marker: str) -> int:
    """Answers with HTTP 200 whose body lacks `marker`: the fallback TwiML."""
    return sum(1 for r in run.results if r and r[2] == 200 and marker not in r[4])


def _sids_of(requests: list[Request]) -> list[str]:
    out = []
    for request in requests:
        match = re.search(r"MessageSid=(SM\w+)", request[2])
        out.append(match.group(1) if match else "")
    return out


def _drift(runs: list[Run]) -> list[float | None]:
    """p50 of the first and the last 10% of each run: growth within a run."""
    out = []
    for run in runs:
        lat = [r[1] for r in run.results if r and r[2] == 200]
        k = max(len(lat) // 10, 1)
        out += [pct(lat[:k], 50), pct(lat[-k:], 50)]
    return out


# -- dashboard queries ----------------------------------------------------------------

async def dashboard_queries(db: Path, repeats: int = 7) -> dict[str, dict[str, float]]:
    """The store queries a dashboard would run, through ivr.store.Store."""
    from ivr.clock import SystemClock
    from ivr.store import Store, Tx

    store = Store(db, SystemClock())
    await store.open()
    try:
        con = sqlite3.connect(db)
        middle_conversation = con.execute(
            "SELECT id FROM conversations ORDER BY id LIMIT 1 OFFSET"
            " (SELECT COUNT(*) / 2 FROM conversations)").fetchone()
        middle_sid = con.execute(
            "SELECT sid FROM decisions WHERE sid IS NOT NULL ORDER BY id LIMIT 1 OFFSET"
            " (SELECT COUNT(*) / 2 FROM decisions)").fetchone()
        con.close()
        conversation_id = middle_conversation[0] if middle_conversation else 1
        sid = middle_sid[0] if middle_sid else "SMnone"

        def waiting(tx: Any, rows: list[Any]) -> list[Any]:
            return [(row["id"], row["owner"],
                     (tx.now - datetime.strptime(row["opened_at"], FMT).replace(
                         tzinfo=timezone.utc)).total_seconds()) for row in rows]

        open_sql = ("SELECT id, code, customer, owner, tier, opened_at, acked_at FROM conversations"
                    " WHERE status = 'open' ORDER BY opened_at")
        # Tx's methods are plain functions run in the database thread in newer
        # versions of the store, coroutines in older ones: support both.
        asynchronous = inspect.iscoroutinefunction(Tx.recent_decisions)
        if asynchronous:
            async def open_conversations(tx: Any) -> list[Any]:
                return waiting(tx, await tx._all(open_sql))

            async def live_view(tx: Any) -> list[Any]:
                """What ivr/dashboard.py _live_context reads, in one store.read."""
                conversations = await tx.open_conversations()
                trails = [await tx.recent_decisions(limit=50, conversation_id=c.id)
                          for c in conversations]
                calls = await tx.recent_calls(20)
                call_trails = [await tx.recent_decisions(limit=50, sid=c.call_sid)
                               for c in calls]
                await tx.latest_decision_id()
                return [*trails, *call_trails]
        else:
            def open_conversations(tx: Any) -> list[Any]:  # type: ignore[misc]
                return waiting(tx, tx._all(open_sql))

            def live_view(tx: Any) -> list[Any]:  # type: ignore[misc]
                """What ivr/dashboard.py _live_context reads, in one store.read."""
                conversations = tx.open_conversations()
                trails = [tx.recent_decisions(limit=50, conversation_id=c.id)
                          for c in conversations]
                calls = tx.recent_calls(20)
                call_trails = [tx.recent_decisions(limit=50, sid=c.call_sid) for c in calls]
                tx.latest_decision_id()
                return [*trails, *call_trails]

        queries: dict[str, Callable[[Any], Any]] = {
            "recent_decisions(100)": lambda tx: tx.recent_decisions(100),
            "recent_decisions(100, line)": lambda tx: tx.recent_decisions(100, line_id="qdn"),
            "recent_decisions(100, conversation)":
                lambda tx: tx.recent_decisions(100, conversation_id=conversation_id),
            "recent_decisions(100, sid)": lambda tx: tx.recent_decisions(100, sid=sid),
            "open conversations, owner, waiting": open_conversations,
            "recent_calls(50)": lambda tx: tx.recent_calls(50),
        }
        # the dashboard in ivr/dashboard.py, where this version of the store has it
        if all(hasattr(Tx, name) for name in ("open_conversations", "latest_decision_id")):
            queries["dashboard live view (all of it)"] = live_view
            queries["latest_decision_id (events poll)"] = lambda tx: tx.latest_decision_id()
        if hasattr(Tx, "counts"):
            queries["counts() (/metrics)"] = lambda tx: tx.counts()
        if hasattr(Tx, "find_decisions"):  # `ivr log --number`
            queries["find_decisions(100, number) (ivr log)"] = (
                lambda tx: tx.find_decisions(limit=100, number="+16197050000"))
        out = {}
        for name, query in queries.items():
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                rows = await store.read(query)
                times.append((time.perf_counter() - started) * 1000)
            out[name] = {"median_ms": statistics.median(times), "first_ms": times[0],
                         "rows": len(rows) if hasattr(rows, "__len__") else None}
        return out
    finally:
        await store.close()


# -- output ---------------------------------------------------------------------------

def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(results: dict[str, Any]) -> str:
    lines = []
    load_results = results.get("load", {})
    lines.append("")
    lines.append("Load (service = run.py; baseline = bare ASGI on Hypercorn; ratio = service/baseline;")
    lines.append("      err = no HTTP 200; bad = HTTP 200 with fallback TwiML, the handler failed)")
    header = (f"{'endpoint':16}{'conns':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'cpu s/1k':>10}{'err':>5}{'bad':>5} | {'base r/s':>9}{'p50':>7}{'p99':>7}"
              f"{'cpu/1k':>8} | {'x r/s':>6}{'x p50':>7}{'x p99':>7}{'x cpu':>7}")
    lines.append(header)
    lines.append("-" * len(header))
    for endpoint in ("sms_incoming", "ack", "voice_incoming", "dial_next_tier"):
        for level, row in load_results.get(endpoint, {}).items():
            s, b, r = row["service"], row["baseline"], row["ratio"]
            lines.append(
                f"{endpoint:16}{level:>6}{fmt(s['rps'], 0):>9}{fmt(s['p50_ms']):>9}"
                f"{fmt(s['p99_ms']):>9}{fmt(s['cpu_s_per_1000']):>10}{s['errors']:>5}"
                f"{s.get('bad_answers', 0):>5} | "
                f"{fmt(b['rps'], 0):>9}{fmt(b['p50_ms']):>7}{fmt(b['p99_ms']):>7}"
                f"{fmt(b['cpu_s_per_1000']):>8} | {fmt(r['rps']):>6}{fmt(r['p50']):>7}"
                f"{fmt(r['p99']):>7}{fmt(r['cpu']):>7}")
    if "sms_incoming" in load_results:
        lines.append("")
        lines.append("Inbound text -> REST send started at the fake Twilio (ms)")
        for level, row in load_results["sms_incoming"].items():
            t = row["text_to_rest"]
            lines.append(f"  under load, {level:>2} conn: from request p50 "
                         f"{fmt(t['from_request_p50_ms'], 1)} p99 {fmt(t['from_request_p99_ms'], 1)}"
                         f"; from answer p50 {fmt(t['from_answer_p50_ms'], 1)} p99 "
                         f"{fmt(t['from_answer_p99_ms'], 1)}; never sent {t['never_sent']}")
    paced = results.get("text_to_rest_paced")
    if paced:
        lines.append(f"  paced (1 text / 20 ms): from request p50 "
                     f"{fmt(paced['from_request_p50_ms'], 1)} p99 "
                     f"{fmt(paced['from_request_p99_ms'], 1)} max {fmt(paced['max_ms'], 1)}; "
                     f"webhook p50 {fmt(paced['webhook_p50_ms'])} p99 {fmt(paced['webhook_p99_ms'])}")
    d = results.get("disconnects")
    if d:
        lines.append("")
        lines.append(f"Disconnects (64 conns, every 10th request abandoned 0-3 ms after sending): "
                     f"{d['ok']} ok, {d['errors']} errors, {d['abandoned']} abandoned "
                     f"({d['abandoned_complete']} completed, {d['abandoned_absent']} never "
                     f"started, {d['abandoned_partial']} partial); 200 with fallback TwiML: "
                     f"{d.get('bad_answers')}; ok but incomplete in the db: "
                     f"{d['ok_but_not_complete']}; integrity_check: {d['integrity_check']}; "
                     f"/healthz right after: {d.get('healthz_first')}, 200 after "
                     f"{d.get('healthz_200_after_s')} s; answers after: {d['answers_after']}; "
                     f"{fmt(d['rps'], 0)} req/s p50 {fmt(d['p50_ms'])} p99 {fmt(d['p99_ms'])} ms")
    timers = results.get("timers")
    if timers:
        lines.append("")
        lines.append("Timers (ms late after due_at)      fired p50/p99/max          "
                     "REST send started p50/p99/max   fired/s")
        for name, t in timers.items():
            lines.append(f"  {name:8} {t['due_in_window']:>6} of {t['pending']:>6} pending: "
                         f"{fmt(t['fire_late_p50_ms'], 0):>7} {fmt(t['fire_late_p99_ms'], 0):>7} "
                         f"{fmt(t['fire_late_max_ms'], 0):>7}    "
                         f"{fmt(t['send_started_late_p50_ms'], 0):>7} "
                         f"{fmt(t['send_started_late_p99_ms'], 0):>7} "
                         f"{fmt(t['send_started_late_max_ms'], 0):>7}   "
                         f"{fmt(t['fired_per_s'], 0)}  (unfired {t['unfired']})")
    h = results.get("history")
    if h:
        s = h["sms_incoming_16"]
        lines.append("")
        lines.append(f"History ({h['built']['decisions']} decisions, "
                     f"{h['built']['conversations']} conversations) vs empty, /sms/incoming at "
                     f"16 conns:")
        for key in ("empty", "history"):
            r = s[key]
            lines.append(f"  {key:8} {fmt(r['rps'], 0):>6} req/s  p50 {fmt(r['p50_ms']):>7}  "
                         f"p99 {fmt(r['p99_ms']):>7} ms  errors {r['errors']}")
        lines.append(f"  ratio history/empty: p99 x{s['ratio']['p99']}, p50 x{s['ratio']['p50']},"
                     f" req/s x{s['ratio']['rps']}; first text on the history db: "
                     f"{fmt(h['first_text_on_history_ms'])} ms")
        probes = h["bare_ack_nothing_waiting_1conn"]
        lines.append(f"  bare ACK with nothing waiting (1 conn): empty p50 "
                     f"{fmt(probes['empty']['p50_ms'])} ms, history p50 "
                     f"{fmt(probes['history']['p50_ms'])} ms")
        lines.append("  dashboard queries (median of 7, ms)     history      empty")
        for name, q in h["dashboard_queries_ms"]["history"].items():
            e = h["dashboard_queries_ms"]["empty"][name]
            lines.append(f"    {name:36}{fmt(q['median_ms']):>9}{fmt(e['median_ms']):>11}")
    mem = results.get("memory")
    if mem:
        lines.append("")
        lines.append("Resident memory (MB, VmRSS):")
        for when, values in mem.items():
            lines.append(f"  {when}: " + ", ".join(f"{k} {fmt(v, 1)}" for k, v in values.items()))
        if h and "memory" in h:
            lines.append("  service on the history db: " + ", ".join(
                f"{k} {fmt(v, 1)}" for k, v in h["memory"]["history"].items()))
    logs = results.get("service_log")
    if logs:
        lines.append("")
        lines.append("Service logs: " + "; ".join(
            f"{name}: {v['error_lines']} ERROR lines ({v['database_is_locked']} 'database is "
            f"locked', {v['webhook_failed_inside']} webhooks failed inside)"
            for name, v in logs.items() if v["error_lines"]))
    qf = results.get("quart_floor")
    if qf:
        lines.append("")
        lines.append("Quart floor (form parsed, constant reply, no ivr code) vs baseline: " + "; ".join(
            f"{level} conn {fmt(v['quart']['rps'], 0)} req/s p50 {fmt(v['quart']['p50_ms'])} "
            f"p99 {fmt(v['quart']['p99_ms'])} ms cpu {fmt(v['quart']['cpu_s_per_1000'])} s/1k "
            f"= x{v['ratio']['rps']} req/s" for level, v in qf.items()))
    cc = results.get("client_check")
    if cc:
        lines.append("")
        lines.append("Client check (baseline, 64 conns): " + "; ".join(
            f"{k}: {fmt(v['rps'], 0)} req/s, client CPU {fmt(v['client_cpu_s_per_1000'], 3)} "
            f"s/1000, server CPU {fmt(v['cpu_s_per_1000'], 3)} s/1000" for k, v in cc.items()))
    return "\n".join(lines)


SNAPSHOT_ENV = "IVR_BENCH_SNAPSHOT"
SNAPSHOT_PARTS = ("ivr", "run.py", "schema.sql", "pyproject.toml", "examples", "tests", "bench",
                  "twiml_templates", "dashboard_templates")


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


def main() -> int:
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
    parser.add_argument("--keep-databases", action="store_true",
                        help="leave the SQLite files in the run's temporary directory")
    parser.add_argument("--live-source", action="store_true",
                        help="run the working tree as it is, not a snapshot of it")
    args = parser.parse_args()
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # so that the finally below stops every server even when started in the
    # background (where a shell leaves SIGINT ignored) or stopped with SIGTERM
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    if not args.live_source and not os.environ.get(SNAPSHOT_ENV):
        snapshot_and_reexec(args)  # does not return
    bench = Bench(args)
    if os.environ.get(SNAPSHOT_ENV):
        bench.results["git"] = json.loads(os.environ.get("IVR_BENCH_GIT", "{}"))
        bench.results["command"] = os.environ.get("IVR_BENCH_COMMAND", bench.results["command"])
        bench.results["source_snapshot"] = os.environ[SNAPSHOT_ENV]
    try:
        bench.run()
    finally:
        with open(args.out, "w") as handle:
            json.dump(bench.results, handle, indent=1, default=str)
        print(table(bench.results))
        if not args.keep_databases:  # the history database alone is ~450 MB
            for path in bench.tmp.glob("*.sqlite3*"):
                path.unlink(missing_ok=True)
        log(f"results in {args.out}; logs in {bench.tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

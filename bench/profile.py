"""Profile the service's workers with py-spy while the load generator drives
one endpoint, and print where the time goes.

    python bench/profile.py [--endpoint sms|ack|voice|dial] [--connections 64]
                            [--requests 3000] [--workers 2] [--db PATH] [--gil]
                            [--patches indexes] [--no-spy]

Writes bench/profiles/<endpoint>-<pid>.txt (py-spy's collapsed stacks) and
prints, per worker, the share of samples in which each of our functions and
each library function appears (inclusive), and the leaf functions (self time).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import Harness  # noqa: E402
from procfs import thread_cpu_seconds  # noqa: E402
from servers import Server  # noqa: E402
from service_db import cancel_timers  # noqa: E402
from stats import summarise  # noqa: E402
from twilio_requests import Request, acks, dial_actions, new_calls, new_texts  # noqa: E402

PYSPY = str(Path(sys.executable).parent / "py-spy")


# Leaf frames that are a thread waiting, not working. py-spy's own idle
# detection misses these two: the event loop's epoll wait and aiosqlite's
# worker thread blocked in SimpleQueue.get() (core.py, "tx.get()").
IDLE_LEAVES = ("EpollSelector.select (selectors.py", "_connection_worker_thread (aiosqlite/core.py:59)",
               "_worker (concurrent/futures/thread.py", "Condition.wait (threading.py",
               "wait (threading.py")


def summarise_profile(path: Path, top: int = 40) -> str:
    """Per worker: the share of busy samples in each function, inclusive and self."""
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        if any(idle_leaf in frames[-1] for idle_leaf in IDLE_LEAVES):
            idle += n
            continue
        total += n
        if "_connection_worker_thread (aiosqlite/core.py:63)" in frames[-1]:
            frames = frames + ["[SQLite C code, in aiosqlite's thread] (sqlite3)"]
        seen = set()
        for frame in frames:
            name = _short(frame)
            if name not in seen:
                inclusive[name] += n
                seen.add(name)
        leaf[_short(frames[-1])] += n
    if not total:
        return f"{path.name}: no busy samples ({idle} idle)"
    out = [f"{path.name}: {total} busy samples ({idle} idle samples left out); share of busy",
           "  inclusive:"]
    for name, n in inclusive.most_common(top):
        out.append(f"    {100 * n / total:5.1f}%  {name}")
    out.append("  self (leaf):")
    for name, n in leaf.most_common(top // 2):
        out.append(f"    {100 * n / total:5.1f}%  {name}")
    return "\n".join(out)


def _short(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)" keeping the package
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1:]
    elif "ivr" in parts:
        parts = parts[parts.index("ivr"):]
    else:
        parts = parts[-2:]
    return f"{name} ({'/'.join(parts)})"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", choices=("sms", "ack", "voice", "dial"), default="sms")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", help="an existing database to serve (copied first)")
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument("--rate", type=int, default=250)
    parser.add_argument("--no-spy", action="store_true",
                        help="only the load run's figures, no sampling (for quick A/B runs)")
    parser.add_argument("--patches", default="", help="as bench/run.py --patches")
    return parser.parse_args()


def requests_for(harness: Harness, service: Server, endpoint: str, n: int) -> list[Request]:
    """`n` requests to `endpoint`, after what each needs first (texts to ACK,
    calls whose Dial action to post)."""
    url = service.url
    if endpoint == "ack":
        texts, _ = new_texts(url, n, "t")
        harness.drive(service, texts, 16)
        cancel_timers(service.db)  # type: ignore[arg-type]
        return acks(url, n)
    if endpoint in ("voice", "dial"):
        calls, sids = new_calls(url, n)
        if endpoint == "voice":
            return calls
        run = harness.drive(service, calls, 16, keep_body=True)
        return dial_actions(url, ((r[4], s) for r, s in zip(run.results, sids) if r))
    requests, _ = new_texts(url, n, "t")
    return requests


def start_spies(harness: Harness, service: Server, args: argparse.Namespace,
                out_dir: Path) -> list[tuple[subprocess.Popen, Path]]:
    """One py-spy per worker (none with --no-spy), and the file each writes."""
    spies = []
    for pid in ([] if args.no_spy else service.worker_pids):
        tag = f"-{args.patches.replace(',', '+')}" if args.patches else ""
        path = out_dir / f"{args.endpoint}-{args.connections}{tag}-{pid}.txt"
        cmd = [PYSPY, "record", "--pid", str(pid), "--format", "raw", "--output", str(path),
               "--rate", str(args.rate), "--nonblocking"]
        if args.gil:
            cmd.append("--gil")
        spies.append((harness.servers.procs.start(cmd, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL), path))
    return spies


def main() -> int:
    args = parse_args()
    harness = Harness.create(requests=args.requests, quick=True, workers=args.workers,
                             client="raw", patches=args.patches)
    out_dir = BENCH / "profiles"
    out_dir.mkdir(exist_ok=True)
    try:
        sink = harness.start_sink()
        db = harness.tmp / "ivr.sqlite3"
        if args.db:
            shutil.copy(args.db, db)
        service = harness.servers.start_service("service", db, sink)
        requests = requests_for(harness, service, args.endpoint, args.requests)
        spies = start_spies(harness, service, args, out_dir)
        time.sleep(1.0)
        threads_before = {pid: thread_cpu_seconds(pid) for pid in service.worker_pids}
        run = harness.drive(service, requests, args.connections, sink=sink,
                            expected_sends=len(requests) if args.endpoint in
                            ("sms", "ack") else 0)
        s = summarise([run])
        print(f"{args.endpoint} at {args.connections}: {s['rps']:.0f} req/s, p50 "
              f"{s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, cpu {s['cpu_s_per_1000']:.2f} "
              f"s/1000, errors {s['errors']}, RSS MB "
              + " ".join(f"{v:.1f}" for v in service.rss().values() if v is not None))
        for pid, before in threads_before.items():
            after = thread_cpu_seconds(pid)
            print(f"worker {pid}, CPU ms per request by thread: " + ", ".join(
                f"{name} {1000 * (after[name] - before.get(name, 0.0)) / len(requests):.2f}"
                for name in sorted(after, key=lambda n: before.get(n, 0.0) - after[n])
                if after[name] > before.get(name, 0.0)))
        for spy, _ in spies:
            # py-spy writes, then exits
            harness.servers.procs.stop(spy, seconds=30, sig=signal.SIGINT)
        for _, path in spies:
            if path.exists():
                print(summarise_profile(path))
    finally:
        harness.servers.stop_all()
        shutil.rmtree(harness.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

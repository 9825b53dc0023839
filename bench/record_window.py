"""The crash window (issue 14 item 2): from Twilio's answer accepting a send
reaching the service to that send's "sent" record committing. A SIGKILL
inside it sends the text again after the restart, unless Twilio's listing
shows it was sent (ivr/outbox.py _already_sent). Read from the `record_ms`
of each "sent" log line (ivr/outbox.py _record_accepted), under
`/sms/incoming` load at each level, every text paging tier 1 once.

    .venv/bin/python bench/record_window.py              # 1 and 64 connections
    .venv/bin/python bench/record_window.py --requests 600 --levels 1,16,64
    .venv/bin/python bench/record_window.py --patches store_path_records   # before
"""

from __future__ import annotations

import argparse
import re
import shutil
from typing import Any

import paths  # noqa: F401 - puts the repository on sys.path
from harness import Harness
from service_db import wait_until_outbox_sent
from stats import pct
from twilio_requests import new_texts

RECORD_MS = re.compile(r" sent .*record_ms=([0-9.]+)")


def record_window(harness: Harness, levels: list[int]) -> dict[int, dict[str, Any]]:
    sink = harness.start_sink()
    service = harness.servers.start_service("service-record-window",
                                            harness.tmp / "record-window.sqlite3", sink)
    results: dict[int, dict[str, Any]] = {}
    for index, level in enumerate(levels):
        start = service.log_path.stat().st_size
        # A one-letter tag: longer ones are cut off the 34-character sids.
        requests, _ = new_texts(service.url, harness.requests_per_run, "klmnopq"[index])
        run = harness.drive(service, requests, level, sink=sink,
                            expected_sends=len(requests))
        wait_until_outbox_sent(service.db)
        with open(service.log_path, encoding="utf-8", errors="replace") as log_file:
            log_file.seek(start)
            window = [float(ms) for ms in RECORD_MS.findall(log_file.read())]
        results[level] = {"n": len(window), "p50_ms": pct(window, 50),
                          "p99_ms": pct(window, 99), "max_ms": max(window, default=None),
                          "texts_per_s": round(run.ok / run.elapsed) if run.elapsed else None}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600, help="texts per level")
    parser.add_argument("--levels", default="1,64", help="connections, comma-separated")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patches", default="",
                        help="bench/patched_run.py's, e.g. store_path_records: the window before")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the database")
    args = parser.parse_args()
    harness = Harness.create(requests=args.requests, quick=False, workers=args.workers,
                             patches=args.patches)
    try:
        results = record_window(harness, [int(x) for x in args.levels.split(",")])
    finally:
        harness.servers.stop_all()
    print(f"Twilio accepted -> 'sent' record committed ({args.workers} workers, "
          f"{args.requests} texts per level{', patches ' + args.patches if args.patches else ''})")
    for level, row in results.items():
        print(f"  {level:>2} conn: p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
              f"max {row['max_ms']} ms (n={row['n']}, {row['texts_per_s']} texts/s)")
    if not args.keep:
        shutil.rmtree(harness.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

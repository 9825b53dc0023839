"""A second start on a busy port changes nothing and says so; a start that
fails exits at once with one clear line. Real run.py processes on loopback."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .support.harness import EXAMPLE_CONFIG, REPO
from .support.processes import clean_environ, free_port, stop, wait_until_healthy


def start(tmp_path, env, port, workers=1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(EXAMPLE_CONFIG),
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)   # its own group: a hung one is killed with its workers


def finish(process: subprocess.Popen, seconds: float) -> tuple[int, str, str, float]:
    """Wait for a process that should exit by itself; kill it if it hangs."""
    began = time.monotonic()
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(f"still running after {seconds} s:\n{out}\n{err}")
    return process.returncode, out, err, time.monotonic() - began


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_second_start_on_a_busy_port_changes_nothing_and_says_so(tmp_path, workers):
    port = free_port()
    env = clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    first = start(tmp_path, env, port, workers)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", first)
        state = tmp_path / "ivr.sqlite3.local.json"
        before = (state.read_bytes(), state.stat().st_mtime_ns)

        code, out, err, _ = finish(start(tmp_path, env, port, workers), 30)
        assert code != 0
        assert "Traceback" not in err and "Errno" not in err
        assert err.startswith("ivr: ") and err.count("\n") == 1, err   # one line
        assert f"127.0.0.1:{port}" in err and "already in use" in err and "--bind" in err
        assert "LOCAL MODE" not in out                                   # no second banner
        assert (state.read_bytes(), state.stat().st_mtime_ns) == before

        # The first still answers, and accepts the token it wrote.
        await wait_until_healthy(f"http://127.0.0.1:{port}", first, seconds=5)
        simulate = subprocess.run(
            [sys.executable, "-m", "ivr", "simulate", "--config", str(EXAMPLE_CONFIG),
             "text", "--from", "+16195550142", "Is anybody there?"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert simulate.returncode == 0, simulate.stderr
        assert "reply from the line: Thanks, we got your message." in simulate.stdout
    finally:
        code, out, err = stop(first)
    assert code == 0, err


def foreign_database(path) -> None:
    """Another program's SQLite file: it opens, but ivr's tables cannot go in."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE decisions (id INTEGER PRIMARY KEY, note TEXT)")
    db.commit()
    db.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_start_exits_promptly_with_one_clear_line(tmp_path, workers):
    database = tmp_path / "other.sqlite3"
    foreign_database(database)
    env = clean_environ(IVR_DATABASE=str(database))
    code, out, err, seconds = finish(start(tmp_path, env, free_port(), workers), 60)
    assert code == 2, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"ivr: the database {database}") and "another program's" in last
    assert "IVR_DATABASE" in last and "Fix:" in last
    print(f"workers={workers}: a failed start exited in {seconds:.1f} s")


def test_a_sibling_stopped_by_sigterm_does_not_replace_the_reason_a_worker_gave(tmp_path):
    # With several workers, the first to fail says why; Hypercorn then stops
    # the rest with SIGTERM, and a sibling still starting reports that too.
    from ivr.startup_checks import record_worker_failure
    report = str(tmp_path / "failed")
    assert record_worker_failure(report, "the database is another program's")
    assert record_worker_failure(report, "stopped by SIGTERM while starting")
    assert Path(report).read_text("utf-8") == "the database is another program's\n"

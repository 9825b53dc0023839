"""Starting and stopping what the benchmark measures, all on 127.0.0.1: the
service (`run.py`, or `patched_run.py` with --patches), the baseline and the
Quart floor (`baseline_server.py`), and the fake Twilio that stamps each REST
send (`twilio_sink.py`). A started server knows its processes, so the
measurements can read their CPU time and resident memory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paths import BENCH, CONFIG, PY, REPO
from console import log
from tests.support.fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET
from procfs import cmdline, cpu_seconds, descendants, rss_mb
from twilio_requests import AUTH_TOKEN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    env.update(extra)
    return env


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


class TwilioSink:
    """The fake Twilio in its own process."""

    def __init__(self, procs: Processes, tmp: Path, delay_ms: float = 0):
        self.log_path = tmp / f"twilio_sink-{delay_ms:g}ms.log"
        self.process = procs.start([PY, str(BENCH / "twilio_sink.py"), "--delay-ms",
                                    str(delay_ms)], stdout=subprocess.PIPE,
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
        """[arrival unix time, to, body] of each REST send from the `since`-th on."""
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


class Servers:
    """Starts the service, the baseline and the fake Twilio in `tmp` (their logs
    go there too), each server with `workers` workers; every process it starts
    is stopped by `stop_all`."""

    def __init__(self, tmp: Path, workers: int, patches: str = "") -> None:
        self.tmp = tmp
        self.workers = workers
        self.patches = patches
        self.procs = Processes()

    def start_sink(self, delay_ms: float = 0) -> TwilioSink:
        return TwilioSink(self.procs, self.tmp, delay_ms)

    def start_service(self, name: str, db: Path | str, sink: TwilioSink,
                      public_url: str | None = None, workers: int | None = None) -> Server:
        """`db`: an SQLite file or a PostgreSQL URL. `public_url`: the address
        Twilio signs for (IVR_PUBLIC_BASE_URL), when not this server's own:
        several instances behind one load balancer share one."""
        port = free_port()
        own = f"http://127.0.0.1:{port}"
        public = public_url or own
        env = clean_environ(TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                            TWILIO_API_KEY=API_KEY, TWILIO_API_SECRET=API_SECRET,
                            TWILIO_API_BASE=sink.url, IVR_PUBLIC_BASE_URL=public,
                            IVR_DATABASE=str(db))
        log_path = self.tmp / f"{name}.log"
        launcher = REPO / "run.py"
        if self.patches:
            launcher = BENCH / "patched_run.py"
            env["IVR_BENCH_PATCHES"] = self.patches
        process = self.procs.start(
            [PY, str(launcher), "--config", str(CONFIG), "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers or self.workers)],
            cwd=self.tmp, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
        server = Server(name, process, port, log_path, db)  # type: ignore[arg-type]
        wait_healthy(own, process)
        server.find_workers(workers or self.workers)
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

    def start_peer(self, sink: TwilioSink, workers: int, name: str = "peer") -> Server:
        """bench/peer_app.py on gunicorn's sync workers, as a tutorial deploys it."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = clean_environ(TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                            TWILIO_API_KEY=API_KEY, TWILIO_API_SECRET=API_SECRET,
                            TWILIO_API_BASE=sink.url, PEER_PUBLIC_URL=url,
                            PEER_DB=str(self.tmp / f"{name}-{port}.sqlite3"))
        log_path = self.tmp / f"{name}.log"
        process = self.procs.start(
            [PY, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync",
             "--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--timeout", "120",
             "--chdir", str(BENCH), "peer_app:app"],
            cwd=self.tmp, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
        server = Server(name, process, port, log_path)
        wait_healthy(url, process, path="/")
        for _ in range(100):  # gunicorn forks its workers after it listens
            kids = descendants(process.pid)
            if len(kids) >= workers:
                break
            time.sleep(0.1)
        server.pids = [process.pid, *kids]
        server.worker_pids = kids
        return server

    def stop(self, server: Server) -> None:
        self.procs.stop(server.process)

    def stop_all(self) -> None:
        self.procs.stop_all()

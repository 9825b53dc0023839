"""A throwaway PostgreSQL cluster for the benchmark, or one already running:
its URL, databases made and dropped in it, and the CPU its processes spend
(the postmaster and every backend: utime + stime from /proc, plus what the
postmaster collected from backends that exited).

`scripts/postgres start DIR` makes and starts a cluster with fsync,
synchronous_commit and full_page_writes off (a test cluster). `durable=True`
initdb's the same way, then starts it with pg_ctl and PostgreSQL's defaults
(fsync, synchronous_commit and full_page_writes on), as a primary would run:
every COMMIT then waits for its WAL flush. scripts/postgres is not changed.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from paths import REPO
from procfs import CLK_TCK, cpu_seconds, descendants
from servers import free_port


def _as_owner(cmd: list[str]) -> list[str]:
    if os.getuid() != 0:
        return cmd
    owner = "postgres"
    try:
        import pwd
        pwd.getpwnam(owner)
    except KeyError:
        owner = "nobody"
    return ["runuser", "-u", owner, "--", *cmd]


class PgCluster:
    def __init__(self, directory: Path | None = None, url: str | None = None,
                 durable: bool = False) -> None:
        self.dir = directory
        self.durable = durable
        self.url = url or ""
        self.started = False
        self.made_dir = False
        self.postmaster: int | None = None

    def start(self) -> str:
        """Start the cluster in `dir` (unless a URL was given; a new directory
        under /tmp if neither: the cluster's owner, not root, must reach it,
        and a run's own temporary directory is root's alone); its URL."""
        if not self.url:
            if self.dir is None:
                self.dir = Path(tempfile.mkdtemp(prefix="ivr-bench-pg-"))
                self.made_dir = True
            script = str(REPO / "scripts" / "postgres")
            self.url = subprocess.run([script, "start", str(self.dir)], check=True,
                                      capture_output=True, text=True).stdout.strip()
            self.started = True
            if self.durable:
                subprocess.run([script, "stop", str(self.dir)], check=True)
                self._start_durable()
        self.postmaster = self._find_postmaster()
        return self.url

    def _start_durable(self) -> None:
        assert self.dir is not None
        bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        port = free_port()
        options = (f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1"
                   f" -c max_connections=300 -c fsync=on -c synchronous_commit=on"
                   f" -c full_page_writes=on")
        subprocess.run(_as_owner([f"{bindir}/pg_ctl", "-D", str(self.dir / "data"), "-l",
                                  str(self.dir / "server.log"), "-w", "-t", "60", "start",
                                  "-o", options]), check=True, capture_output=True)
        self.url = f"postgresql://ivr@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self.started and self.dir is not None:
            subprocess.run([str(REPO / "scripts" / "postgres"), "stop", str(self.dir)],
                           check=False)
            self.started = False
            if self.made_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def _find_postmaster(self) -> int:
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore
        with open(f"/proc/{backend}/stat") as handle:
            stat = handle.read()
        return int(stat[stat.rfind(")") + 2:].split()[1])

    def database_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + name

    def create_database(self, name: str) -> str:
        """A fresh, empty database `name` (dropped first if it was left over)."""
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def settings(self) -> dict[str, str]:
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            return {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                    for name in ("server_version", "fsync", "synchronous_commit",
                                 "full_page_writes", "shared_buffers", "max_connections")}

    def cpu(self) -> float:
        """CPU seconds of the cluster so far: every process of it, and the
        backends that already exited (the postmaster's cutime + cstime)."""
        if self.postmaster is None:
            return 0.0
        try:
            with open(f"/proc/{self.postmaster}/stat") as handle:
                stat = handle.read()
        except OSError:
            return 0.0
        fields = stat[stat.rfind(")") + 2:].split()
        reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK  # cutime + cstime
        return (cpu_seconds(self.postmaster) + reaped
                + sum(cpu_seconds(pid) for pid in descendants(self.postmaster)))


def database_stats(url: str, name: str) -> dict[str, int]:
    """Commits and rollbacks PostgreSQL counted in database `name`."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database"
                           " WHERE datname = %s", (name,)).fetchone()
    return dict(zip(("xact_commit", "xact_rollback", "deadlocks"), row or (0, 0, 0)))

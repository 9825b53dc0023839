"""`ivr backup PATH`: a consistent copy of the SQLite database, taken while
the service runs.

SQLite's online backup API copies the database in one step inside one read
transaction: in WAL mode a reader neither waits for the service's writers
nor holds them up, and what it copies is the database as of one commit. It
takes no `<db>.write-lock`, so the service is never made to wait. (Copied
in several steps, a write between two would restart the copy, and under
steady traffic it might never finish.)

The copy is written beside PATH under a temporary name and renamed into
place once it is whole and checked, so PATH is never a half-written file,
and --force replaces an older backup only with a good one."""

from __future__ import annotations

import os
import shlex
import sqlite3
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from .clock import SystemClock
from .config import Config
from .startup_checks import StartupError

# The tables whose rows the summary counts: what an operator would miss.
SUMMARY_TABLES = ("conversations", "decisions", "calls", "inbound_messages", "outbox")

POSTGRES_SCHEMES = ("postgresql://", "postgres://")

BUSY_TIMEOUT_SECONDS = 10


def backup(config: Config, target: str, force: bool, out: TextIO) -> int:
    source = config.database
    if source.startswith(POSTGRES_SCHEMES):
        raise StartupError(
            "the database is PostgreSQL, which ivr backup does not copy. Fix: run "
            f"pg_dump --format=custom --file {shlex.quote(target)} "
            f"{shlex.quote(without_password(source))} "
            "(it asks for the password, or reads PGPASSWORD or ~/.pgpass), and restore "
            "with pg_restore")
    path = Path(target)
    _check_source(source)
    _check_target(path, force)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        _copy(source, temporary)
        counts = _counts(temporary)
        size = temporary.stat().st_size
        os.replace(temporary, path)
        _sync_directory(path.parent)
    except (sqlite3.Error, OSError) as exc:
        raise StartupError(f"could not write the backup to {path}: {_why(exc)}. Fix: check "
                           "that the directory is writable and has room, then run it "
                           "again") from None
    finally:
        temporary.unlink(missing_ok=True)
    taken = SystemClock().now().strftime("%Y-%m-%d %H:%M:%S UTC")
    out.write(f"wrote {path}: {_size(size)}, a consistent copy of {source} taken {taken}\n")
    out.write("  " + ", ".join(f"{table} {count}" for table, count in counts.items()) + "\n")
    # A -wal left beside the database would be replayed over the restored copy.
    out.write(f"  restore: stop the service, delete {source}-wal and {source}-shm, copy "
              f"{path} to {source}, start the service\n")
    return 0


def without_password(url: str) -> str:
    """The database URL with its password (if any) left out: it goes on a
    command line, where other users of the machine can see it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _check_source(source: str) -> None:
    if source == ":memory:":
        raise StartupError("the database is :memory:, which no other process can read. Fix: "
                           "set [service] database or IVR_DATABASE to the service's file")
    if not Path(source).is_file():
        raise StartupError(f"the database {source} does not exist. Fix: run ivr backup with the "
                           "service's config (--config, or IVR_CONFIG) and IVR_DATABASE, if the "
                           "service is started with it")


def _check_target(path: Path, force: bool) -> None:
    if path.is_dir():
        raise StartupError(f"{path} is a directory. Fix: name the backup file, e.g. "
                           f"{path / 'ivr-backup.sqlite3'}")
    if path.exists() and not force:
        raise StartupError(f"{path} already exists. Fix: choose another name, or pass --force "
                           "to replace it")
    parent = path.parent
    if not parent.is_dir():
        raise StartupError(f"the directory {parent} does not exist. Fix: create it "
                           f"(mkdir -p {parent}) or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StartupError(f"the directory {parent} is not writable by this user. Fix: choose "
                           "a directory you can write to, or run as the service's user")


def _copy(source: str, temporary: Path) -> None:
    # Made first, empty and private: the copy holds customers' numbers and texts.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # mode=rw: a source that vanished is an error, not a new empty database.
    src = _open_source(source)
    try:
        dst = sqlite3.connect(temporary)
        try:
            src.backup(dst)  # pages=-1: everything in one step, one snapshot
            # One self-contained file, not a database that needs its -wal.
            dst.execute("PRAGMA journal_mode = DELETE")
            (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its check ({verdict})")
        finally:
            dst.close()
    finally:
        src.close()
    with open(temporary, "rb+") as written:
        os.fsync(written.fileno())


def _open_source(source: str) -> sqlite3.Connection:
    try:
        src = sqlite3.connect(f"{Path(source).resolve().as_uri()}?mode=rw", uri=True,
                              timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise _unreadable(source, exc) from None
    try:
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        src.close()
        raise _unreadable(source, exc) from None
    return src


def _unreadable(source: str, exc: sqlite3.Error) -> StartupError:
    return StartupError(f"could not read the database {source}: {_why(exc)}. Fix: run ivr backup "
                        "as the service's user (reading a database in WAL mode needs write "
                        "access to its directory), and check that it is the service's database")


def _counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master "
                                                   "WHERE type = 'table'")}
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in SUMMARY_TABLES if table in present}
    finally:
        conn.close()


def _sync_directory(directory: Path) -> None:
    """The rename itself survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())[:200]


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"

"""What `ivr serve` checks before it serves, and how a start that fails
anyway ends: the port is bound first, then the database is checked, and a
worker whose app cannot start says why in one line and exits.

`ivr check` runs the same database check without writing anything.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import multiprocessing
import os
import signal
import socket
import sqlite3
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from quart import Quart

from .phone import redact_numbers
from .store.dialect import is_postgres_url, shown_database
from .store.migrations import SchemaTooNew

if TYPE_CHECKING:
    from .config import Config
    from .server import ServeSettings

log = logging.getLogger("ivr.server")   # the name these lines have always been logged under

# After a failed start, the longest the process may linger (a thread some
# library left running would otherwise keep it alive, deaf to SIGTERM).
FAILED_START_EXIT_SECONDS = 5.0
# Where a worker process writes why it could not start, for its parent to say.
START_FAILURE_FILE = "IVR_START_FAILURE_FILE"


class StartupError(Exception):
    """Something the operator must fix before the service can start."""


# -- the port ----------------------------------------------------------------------------

def listen(settings: ServeSettings, backlog: int = 100) -> socket.socket:
    """The listening socket, bound before anything else happens, so a second
    start on a busy port changes nothing (not the token file, not the
    database) and says which address is taken. Hypercorn is handed its file
    descriptor. No SO_REUSEPORT: a second service must not share the port."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR lets a restart bind past connections in TIME_WAIT; on
        # Linux it never lets two sockets listen on one address.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise StartupError(_bind_problem(settings, exc)) from None
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def _bind_problem(settings: ServeSettings, exc: OSError) -> str:
    where = f"cannot listen on {settings.bind} ({settings.bind_from})"
    other = "Fix: pass --bind HOST:PORT (or set IVR_BIND)"
    if isinstance(exc, socket.gaierror):
        return (f"{where}: {settings.host!r} is not a known host name or address. "
                f"{other} with an address of this machine, e.g. 127.0.0.1")
    if exc.errno == errno.EADDRINUSE:
        return (f"{where}: the address is already in use - another process (perhaps ivr, "
                f"already running) listens on port {settings.port}. Nothing was changed. "
                f"Fix: stop that process, or {other[5:]} with a free port")
    if exc.errno == errno.EACCES:
        return (f"{where}: permission denied (ports below 1024 need privileges). "
                f"{other} with a port of 1024 or more, behind your TLS proxy")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{where}: {settings.host} is not an address of this machine. "
                f"{other} with one of its addresses, e.g. 127.0.0.1")
    return f"{where}: {exc.strerror or exc}. {other}"


# -- ivr's own files ---------------------------------------------------------------------

def installation_problem() -> str | None:
    """Why ivr's own schema or templates cannot be read, or None: an install
    that lost them would otherwise fail later, as the first worker starts."""
    from . import DASHBOARD_TEMPLATES_PATH, SCHEMA_PATH, TEMPLATES_PATH
    try:
        SCHEMA_PATH.read_bytes()
    except OSError as exc:
        missing = f"{SCHEMA_PATH} ({exc.strerror})"
    else:
        folders = (TEMPLATES_PATH, DASHBOARD_TEMPLATES_PATH / "static")
        missing = next((f"{folder} (not a folder)" for folder in folders
                        if not folder.is_dir()), None)
    if missing is None:
        return None
    return (f"ivr's own files cannot be read: {missing}. Fix: reinstall ivr "
            f"(pip install --force-reinstall ivr, or pipx reinstall ivr), or run it from a "
            f"complete checkout")


# -- the database ------------------------------------------------------------------------

def database_problem(path: str | Path, create: bool = False) -> str | None:
    """Why the service could not create or write its SQLite database at
    `path`, or None. Without `create` nothing is written (`ivr check`);
    with it the file is created and a write transaction begun and rolled
    back, as the service is about to do anyway."""
    path = Path(path)
    if path.is_dir():
        return "it is a directory"
    problem = _existing_file_problem(path) if path.exists() else _creation_problem(path)
    if problem or not create:
        return problem
    return _write_problem(path)


def _existing_file_problem(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            header = handle.read(16)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if header and header != b"SQLite format 3\x00":
        return "it is not an SQLite database"
    if not os.access(path, os.W_OK):
        return "this user cannot write it"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return (f"this user cannot write its directory {path.parent} "
                f"(SQLite keeps its -wal file there)")
    return None


def _creation_problem(path: Path) -> str | None:
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"this user cannot create files in {ancestor}"
    return None


def _write_problem(path: Path) -> str | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=5, isolation_level=None)
        try:
            db.execute("PRAGMA schema_version").fetchone()
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        finally:
            db.close()
        fd = os.open(str(path) + ".write-lock", os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def database_source(config: Config, environ: Mapping[str, str] = os.environ) -> str:
    """Which setting named the database, for the messages about it."""
    if environ.get("IVR_DATABASE"):
        return "IVR_DATABASE"
    return f"[service] database in {config.path}"


def database_error(config: Config, why: str, source: str | None = None,
                   problem: str = "cannot be created or written") -> str:
    named = f" (from {source})" if source else ""
    if is_postgres_url(config.database):
        return (f"the database {shown_database(config.database)}{named} {problem}: {why}. "
                f"Fix: check that PostgreSQL runs at that address and that the user, "
                f"password and database named in IVR_DATABASE (or [service] database in "
                f"{config.path}) exist and may connect")
    named = f" (from {source})" if source else ""
    return (f"the database {shown_database(config.database)}{named} {problem}: {why}. "
            f"Fix: set IVR_DATABASE, or [service] database in {config.path}, to ivr's own "
            f"database or a new file in a directory this user can write "
            f"(e.g. /var/lib/ivr/ivr.sqlite3)")


# -- a start that fails anyway ------------------------------------------------------------

def fail_start_cleanly(app: Quart, config: Config) -> None:
    """A start that fails (a database that will not open, say) closes what it
    opened and ends with one clear line instead of a traceback. Closing the
    store matters: aiosqlite's thread would otherwise keep the process alive
    after Hypercorn gave up, deaf to SIGTERM."""
    steps = list(app.before_serving_funcs)

    async def start() -> None:
        stopped: list[str] = []
        with _stop_on_signal(stopped):
            try:
                for step in steps:
                    await app.ensure_async(step)()
            except asyncio.CancelledError:
                if not stopped:
                    raise
                asyncio.current_task().uncancel()   # type: ignore[union-attr]
                message = (f"stopped by {stopped[0]} while starting (nothing was served; "
                           f"what had opened is closed)")
            except Exception as exc:
                message = _failure_message(app, config, exc)
            else:
                return
        await _close_what_opened(app)
        _report_failure(message)

    app.before_serving_funcs[:] = [start]
    quart_log_exception = app.log_exception

    def log_exception(exc_info: Any) -> None:
        if not isinstance(exc_info[1], StartFailed):   # said once, by `ivr`, without a traceback
            quart_log_exception(exc_info)

    app.log_exception = log_exception  # type: ignore[method-assign]


class StartFailed(Exception):
    pass


@contextmanager
def _stop_on_signal(stopped: list[str]) -> Iterator[None]:
    """SIGTERM or SIGINT while the app starts (a database that does not
    answer, say) cancels the start. Hypercorn's own handler only sets an
    event it reads once the start is over, so without this the signal waits
    for the start to fail by itself. Python runs this handler beside the
    event loop's, which stays in place for after the start."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    task = asyncio.current_task()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in signals}

    def cancel_start(number: int, _frame: object) -> None:
        stopped.append(signal.Signals(number).name)
        if task is not None:
            task.cancel()

    for number in signals:
        signal.signal(number, cancel_start)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


# The one worker runs in serve's own process: its failed start is read here.
failed_start: dict[str, str] = {}


def _failure_message(app: Quart, config: Config, exc: Exception) -> str:
    services = app.extensions["ivr"]
    if isinstance(exc, SchemaTooNew):
        message = str(exc)
    elif services.store.schema_failed:
        message = database_error(config, one_line(exc),
                                 problem="cannot take ivr's tables (is it another "
                                         "program's database?)")
    elif not services.store.is_open:
        message = database_error(config, one_line(exc), problem="cannot be opened")
    elif isinstance(exc, sqlite3.Error):
        message = database_error(config, one_line(exc),
                                 problem="cannot take ivr's tables (is it another "
                                         "program's database?)")
    else:
        message = f"the service could not start: {one_line(exc)}"
    # Printed, not logged: scrubbed here as the log filter would.
    for secret in services.secrets.values():
        message = message.replace(secret, "[secret]")
    return redact_numbers(message)


async def _close_what_opened(app: Quart) -> None:
    services = app.extensions["ivr"]
    for stop in app.after_serving_funcs:
        try:
            await app.ensure_async(stop)()
        except Exception:
            log.debug("clean-up after a failed start failed", exc_info=True)
    for close in (services.gateway.close, services.store.close):
        try:
            await close()
        except Exception:
            log.debug("clean-up after a failed start failed", exc_info=True)


def _report_failure(message: str) -> None:
    report = os.environ.get(START_FAILURE_FILE)
    if multiprocessing.parent_process() is not None and report:
        # One of several workers: the parent reads why from the file and
        # says it once; Hypercorn's exit code cannot be trusted to (it
        # reports 0 when every worker has already exited).
        if not record_worker_failure(report, message):
            log.error("%s", message)
        flush_and_exit(2)
    failed_start["message"] = message
    raise StartFailed(message) from None


def record_worker_failure(report: str, message: str) -> bool:
    """Leave why this worker could not start for the parent to say; False if
    it could not be written. The first reason stands: when one worker fails,
    Hypercorn stops the others with SIGTERM, and a sibling still starting
    would otherwise replace the real reason with "stopped by SIGTERM"."""
    try:
        with open(report, "x", encoding="utf-8") as file:
            file.write(message + "\n")
    except FileExistsError:
        pass
    except OSError:
        return False
    return True


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def exit_soon_after_a_failed_start() -> None:
    """Ends the process if something left running keeps it from exiting."""
    def exit_later() -> None:
        threading.Event().wait(FAILED_START_EXIT_SECONDS)
        flush_and_exit(2)

    threading.Thread(target=exit_later, name="ivr-failed-start", daemon=True).start()
    # Hypercorn's signal handlers went with its event loop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)

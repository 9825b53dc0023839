"""Serving on Hypercorn: `python run.py` and `ivr serve`.

Hypercorn's workers are separate processes started by import path, so the
parent hands everything to them through the environment and each worker
builds its app with `app_from_environment()`.
"""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import secrets as random
import shutil
import signal
import socket
import sqlite3
import tempfile
import threading
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, TextIO

from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run as hypercorn_run
from hypercorn.utils import LifespanFailureError
from quart import Quart

from .app import create_app
from .config import Config, ConfigError, load_config
from .local_twilio import LOCAL_ACCOUNT_SID, LOCAL_API_KEY, LocalTwilio
from .logs import configure_logging
from .phone import redact_numbers
from .secrets import Secrets, SecretsError, load_secrets

log = logging.getLogger(__name__)

DEFAULT_BIND = "127.0.0.1:8080"
DEFAULT_CONFIG = "ivr.toml"
APP_PATH = "ivr.server:app_from_environment()"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# After a failed start, the longest the process may linger (a thread some
# library left running would otherwise keep it alive, deaf to SIGTERM).
FAILED_START_EXIT_SECONDS = 5.0
# Where a worker process writes why it could not start, for its parent to say.
START_FAILURE_FILE = "IVR_START_FAILURE_FILE"


class StartupError(Exception):
    """Something the operator must fix before the service can start."""


def config_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> str:
    return explicit or environ.get("IVR_CONFIG") or DEFAULT_CONFIG


def load_everything(path: str, environ: Mapping[str, str] = os.environ) -> tuple[Config, Secrets]:
    try:
        config = load_config(path, database_override=environ.get("IVR_DATABASE") or None)
        secrets = load_secrets(environ)
    except (ConfigError, SecretsError) as exc:
        raise StartupError(str(exc)) from None
    return config, secrets


def local_state_path(config: Config) -> Path:
    """Where local mode leaves its generated token for `ivr simulate`."""
    return Path(config.database).with_name(Path(config.database).name + ".local.json")


def app_from_environment() -> Quart:
    """The app one Hypercorn worker serves."""
    config, secrets = load_everything(config_path(None))
    configure_logging(os.environ.get("IVR_LOG_LEVEL", "INFO").upper(), secrets.values(),
                      os.environ.get("IVR_LOG_FORMAT", "text"))
    app = create_app(config, secrets)
    _fail_start_cleanly(app, config)
    return app


@dataclass
class ServeOptions:
    config: str | None
    bind: str | None
    workers: int


@dataclass(frozen=True)
class ServeSettings:
    """What `serve` will do, checked; `ivr check` reads the same."""
    bind: str
    bind_from: str          # --bind, IVR_BIND or the default: named in errors
    host: str
    port: int
    workers: int
    log_level: str
    log_format: str


def serve_settings(options: ServeOptions,
                   environ: Mapping[str, str] = os.environ) -> ServeSettings:
    if options.bind:
        bind, bind_from = options.bind, "--bind"
    elif environ.get("IVR_BIND"):
        bind, bind_from = environ["IVR_BIND"], "IVR_BIND"
    else:
        bind, bind_from = DEFAULT_BIND, "the default bind"
    if options.workers < 1:
        raise StartupError(f"--workers {options.workers}: at least one worker is needed. "
                           f"Fix: pass --workers 1 or more")
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise StartupError(f"{bind_from} {bind!r} is not HOST:PORT with a port from 1 to 65535. "
                           f"Fix: e.g. --bind 127.0.0.1:8080")
    log_format = environ.get("IVR_LOG_FORMAT", "text")
    if log_format not in ("text", "json"):
        raise StartupError(f"IVR_LOG_FORMAT={log_format!r}. Fix: set it to text or json")
    log_level = environ.get("IVR_LOG_LEVEL", "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise StartupError(f"IVR_LOG_LEVEL={environ.get('IVR_LOG_LEVEL')!r} is not a log level. "
                           f"Fix: set it to one of {', '.join(LOG_LEVELS)}")
    return ServeSettings(bind, bind_from, host, int(port), options.workers, log_level,
                         log_format)


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


def database_problem(path: str | Path, create: bool = False) -> str | None:
    """Why the service could not create or write its SQLite database at
    `path`, or None. Without `create` nothing is written (`ivr check`);
    with it the file is created and a write transaction begun and rolled
    back, as the service is about to do anyway."""
    path = Path(path)
    if path.is_dir():
        return "it is a directory"
    if path.exists():
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
    else:
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return f"{ancestor} is a file, not a directory"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"this user cannot create files in {ancestor}"
    if not create:
        return None
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
    return (f"the database {config.database}{named} {problem}: {why}. "
            f"Fix: set IVR_DATABASE, or [service] database in {config.path}, to ivr's own "
            f"database or a new file in a directory this user can write "
            f"(e.g. /var/lib/ivr/ivr.sqlite3)")


def _fail_start_cleanly(app: Quart, config: Config) -> None:
    """A start that fails (a database that will not open, say) closes what it
    opened and ends with one clear line instead of a traceback. Closing the
    store matters: aiosqlite's thread would otherwise keep the process alive
    after Hypercorn gave up, deaf to SIGTERM."""
    services = app.extensions["ivr"]
    steps = list(app.before_serving_funcs)

    async def start() -> None:
        try:
            for step in steps:
                await app.ensure_async(step)()
        except Exception as exc:
            if not services.store.is_open:
                message = database_error(config, _one_line(exc), problem="cannot be opened")
            elif isinstance(exc, sqlite3.Error):
                message = database_error(config, _one_line(exc),
                                         problem="cannot take ivr's tables (is it another "
                                                 "program's database?)")
            else:
                message = f"the service could not start: {_one_line(exc)}"
            # Printed, not logged: scrubbed here as the log filter would.
            for secret in services.secrets.values():
                message = message.replace(secret, "[secret]")
            message = redact_numbers(message)
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
            report = os.environ.get(START_FAILURE_FILE)
            if multiprocessing.parent_process() is not None and report:
                # One of several workers: the parent reads why from the file
                # and says it once; Hypercorn's exit code cannot be trusted to
                # (it reports 0 when every worker has already exited).
                try:
                    Path(report).write_text(message + "\n", "utf-8")
                except OSError:
                    log.error("%s", message)
                _flush_and_exit(2)
            _failed_start["message"] = message
            raise _StartFailed(message) from None

    app.before_serving_funcs[:] = [start]
    quart_log_exception = app.log_exception

    def log_exception(exc_info: Any) -> None:
        if not isinstance(exc_info[1], _StartFailed):   # said once, by `ivr`, without a traceback
            quart_log_exception(exc_info)

    app.log_exception = log_exception  # type: ignore[method-assign]


class _StartFailed(Exception):
    pass


# The one worker runs in serve's own process: its failed start is read here.
_failed_start: dict[str, str] = {}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _exit_soon_after_a_failed_start() -> None:
    """Ends the process if something left running keeps it from exiting."""
    def exit_later() -> None:
        threading.Event().wait(FAILED_START_EXIT_SECONDS)
        _flush_and_exit(2)

    threading.Thread(target=exit_later, name="ivr-failed-start", daemon=True).start()
    # Hypercorn's signal handlers went with its event loop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def serve(options: ServeOptions, out: TextIO = sys.stdout) -> int:
    path = config_path(options.config)
    config, secrets = load_everything(path)
    settings = serve_settings(options)
    hyper = HypercornConfig()
    # Before any file is touched: a busy port leaves everything as it was.
    sock = listen(settings, hyper.backlog)
    try:
        problem = database_problem(config.database, create=True)
        if problem:
            raise StartupError(database_error(config, problem, database_source(config)))
        configure_logging(settings.log_level, secrets.values(), settings.log_format)
        return _serve(options, config, secrets, settings, hyper, sock, out, path)
    finally:
        if sock.fileno() != -1:
            sock.close()


def _serve(options: ServeOptions, config: Config, secrets: Secrets, settings: ServeSettings,
           hyper: HypercornConfig, sock: socket.socket, out: TextIO, path: str) -> int:
    bind = settings.bind
    env = os.environ
    env["IVR_LOG_LEVEL"] = settings.log_level
    env["IVR_CONFIG"] = path
    env["IVR_DATABASE"] = config.database
    local: LocalTwilio | None = None
    if secrets.local:
        token = random.token_hex(16)
        names = {r.phone: r.name for r in config.responders.values()}
        local = LocalTwilio(token, out, lambda number: names.get(number, "the customer"))
        try:
            api_base = local.start()
        except RuntimeError as exc:
            raise StartupError(f"{exc}. Fix: see the message; local mode needs a free "
                               f"loopback port") from None
        public = secrets.public_base_url or f"http://{bind}"
        operator_password = None
        if not secrets.operator_password_hash:
            operator_password = random.token_urlsafe(12)
            env["IVR_OPERATOR_PASSWORD"] = operator_password
        env.update({"TWILIO_AUTH_TOKEN": token, "TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
                    "TWILIO_API_KEY": LOCAL_API_KEY, "TWILIO_API_SECRET": random.token_hex(16),
                    "TWILIO_API_BASE": api_base, "IVR_PUBLIC_BASE_URL": public})
        state = local_state_path(config)
        state.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"auth_token": token, "url": public,
                       "operator_password": operator_password}, handle)
        _banner(out, config, public, state, operator_password)
    elif not secrets.public_base_url:
        raise StartupError("IVR_PUBLIC_BASE_URL is not set. Twilio signs each webhook with the "
                           "URL it requested, so the service must know it. Fix: set "
                           "IVR_PUBLIC_BASE_URL=https://your-host (the address Twilio reaches)")

    metrics_dir = failure_dir = None
    if options.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in env:
        # Workers are separate processes: prometheus-client adds up their files.
        metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-metrics-")
    if options.workers > 1:
        failure_dir = tempfile.mkdtemp(prefix="ivr-start-")
        env[START_FAILURE_FILE] = os.path.join(failure_dir, "failed")

    # Hypercorn takes the socket bound above; it closes it when it is done.
    hyper.bind = [f"fd://{sock.detach()}"]
    hyper.application_path = APP_PATH
    # One worker runs in this process, so SIGTERM reaches it directly.
    hyper.workers = 0 if options.workers == 1 else options.workers
    hyper.accesslog = None
    # Hypercorn's own messages go through our handlers, and so through redaction.
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.graceful_timeout = 10
    hyper.worker_class = _event_loop()
    try:
        code = hypercorn_run(hyper)
    except LifespanFailureError as exc:
        # One worker, in this process: the app has closed what it opened and
        # said why in `exc`; whatever a library left running must not keep
        # the process alive.
        _exit_soon_after_a_failed_start()
        raise StartupError(_failed_start.get("message")
                           or f"the service could not start: {_one_line(exc)}") from None
    finally:
        if local is not None:
            local.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        failed = None
        if failure_dir is not None:
            try:
                failed = Path(env.pop(START_FAILURE_FILE)).read_text("utf-8").strip()
            except OSError:
                pass
            shutil.rmtree(failure_dir, ignore_errors=True)
    if failed:
        raise StartupError(failed)
    if code:
        log.error("a worker exited with code %d, so the service stopped; the log above says why",
                  code)
    return code


def _event_loop() -> str:
    """uvloop where it is installed (a dependency wherever it has wheels): the
    benchmark measured 12-15% less CPU per text than asyncio's own loop."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        log.info("uvloop is not installed; serving on asyncio's event loop")
        return "asyncio"
    return "uvloop"


def _banner(out: TextIO, config: Config, public: str, state: Path,
            operator_password: str | None) -> None:
    line = next(iter(config.lines.values()))
    responder = config.responders[line.tiers[0][0]]
    out.write(
        "\n"
        "  ivr is running in LOCAL MODE: no Twilio account is set, so texts go to a\n"
        "  built-in fake Twilio that prints them here. Nothing reaches a real phone.\n"
        f"  Service:  {public}    config: {config.path}    database: {config.database}\n"
        f"  Dev auth token for signed webhooks: saved in {state} (mode 600)\n"
        f"  Dashboard: {public}/dashboard/  password: "
        f"{operator_password or '(IVR_OPERATOR_PASSWORD, as set)'}\n"
        "\n"
        "  In another terminal, text the line as a customer, then answer as a responder:\n"
        f"    python -m ivr simulate --config {config.path} text --from +16195550142 "
        f"\"Is anybody there?\"\n"
        f"    python -m ivr simulate --config {config.path} text --as {responder.id} ACK\n"
        f"    python -m ivr simulate --config {config.path} text --as {responder.id} "
        f"\"On my way\"\n"
        f"  ({responder.name} is tier 1 of {line.name}; without an ACK within "
        f"{line.ack_seconds} s the next tier is paged.)\n"
        "\n")
    out.flush()

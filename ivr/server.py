"""Serving on Hypercorn: `python run.py` and `ivr serve`.

Hypercorn's workers are separate processes started by import path, so the
parent hands everything to them through the environment and each worker
builds its app with `app_from_environment()`. What is checked before
serving, and how a failed start ends, is in `startup_checks`; local mode's
fake Twilio in `local_mode`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, MutableMapping, TextIO

from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run as hypercorn_run
from hypercorn.utils import LifespanFailureError
from quart import Quart

from .app import create_app
from .config import Config, ConfigError, load_config
from .hooks.config import MissingHookSecret, resolve_secrets
from .local_mode import local_state_path, start_local_mode
from .local_twilio import LocalTwilio
from .logs import configure_logging
from .outbox import WORKERS_ENV
from .secrets import Secrets, SecretsError, load_secrets
from .store.dialect import is_postgres_url
from .startup_checks import (START_FAILURE_FILE, StartupError, database_error, database_problem,
                             database_source, exit_soon_after_a_failed_start, fail_start_cleanly,
                             failed_start, installation_problem, listen, one_line)

# Imported from here by `ivr simulate` and the tests.
__all__ = ["StartupError", "local_state_path"]

log = logging.getLogger(__name__)

DEFAULT_BIND = "127.0.0.1:8080"
DEFAULT_CONFIG = "ivr.toml"
APP_PATH = "ivr.server:app_from_environment()"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def config_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> str:
    return explicit or environ.get("IVR_CONFIG") or DEFAULT_CONFIG


def load_everything(path: str, environ: Mapping[str, str] = os.environ) -> tuple[Config, Secrets]:
    try:
        config = load_config(path, database_override=environ.get("IVR_DATABASE") or None)
        secrets = load_secrets(environ)
        config = replace(config, hooks=resolve_secrets(config.hooks, secrets, config.path))
    except (ConfigError, SecretsError, MissingHookSecret) as exc:
        raise StartupError(str(exc)) from None
    return config, secrets


def app_from_environment() -> Quart:
    """The app one Hypercorn worker serves."""
    config, secrets = load_everything(config_path(None))
    configure_logging(os.environ.get("IVR_LOG_LEVEL", "INFO").upper(), secrets.values(),
                      os.environ.get("IVR_LOG_FORMAT", "text"))
    app = create_app(config, secrets)
    fail_start_cleanly(app, config)
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


def serve(options: ServeOptions, out: TextIO = sys.stdout) -> int:
    path = config_path(options.config)
    config, secrets = load_everything(path)
    settings = serve_settings(options)
    if settings.workers > config.twilio_concurrency:
        raise StartupError(
            f"{path}: service.twilio_concurrency = {config.twilio_concurrency} is fewer than "
            f"--workers {settings.workers}: each worker needs at least one send to Twilio "
            f"at a time, and together they would go over the setting. Fix: raise "
            f"twilio_concurrency to {settings.workers} or more, or start fewer workers")
    broken = installation_problem()
    if broken:
        raise StartupError(broken)
    hyper = HypercornConfig()
    # Before any file is touched: a busy port leaves everything as it was.
    sock = listen(settings, hyper.backlog)
    try:
        # A PostgreSQL server's problems are found as the store opens (the
        # worker's start fails with one line saying why).
        problem = (None if is_postgres_url(config.database)
                   else database_problem(config.database, create=True))
        if problem:
            raise StartupError(database_error(config, problem, database_source(config)))
        configure_logging(settings.log_level, secrets.values(), settings.log_format)
        return _serve(options, config, secrets, settings, hyper, sock, out, path)
    finally:
        if sock.fileno() != -1:
            sock.close()


def _serve(options: ServeOptions, config: Config, secrets: Secrets, settings: ServeSettings,
           hyper: HypercornConfig, sock: socket.socket, out: TextIO, path: str) -> int:
    env = os.environ
    env["IVR_LOG_LEVEL"] = settings.log_level
    env["IVR_CONFIG"] = path
    env["IVR_DATABASE"] = config.database
    # Each worker sends its share of [service] twilio_concurrency.
    env[WORKERS_ENV] = str(options.workers)
    local: LocalTwilio | None = None
    if secrets.local:
        local = start_local_mode(config, secrets, settings.bind, out, env)
    elif not secrets.public_base_url:
        raise StartupError("IVR_PUBLIC_BASE_URL is not set. Twilio signs each webhook with the "
                           "URL it requested, so the service must know it. Fix: set "
                           "IVR_PUBLIC_BASE_URL=https://your-host (the address Twilio reaches)")
    metrics_dir, failure_dir = _worker_directories(options.workers, env)
    _hand_over(hyper, sock, options.workers)
    try:
        code = hypercorn_run(hyper)
    except LifespanFailureError as exc:
        # One worker, in this process: the app has closed what it opened and
        # said why in `exc`; whatever a library left running must not keep
        # the process alive.
        exit_soon_after_a_failed_start()
        raise StartupError(failed_start.get("message")
                           or f"the service could not start: {one_line(exc)}") from None
    finally:
        if local is not None:
            local.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        failed = _worker_failure(failure_dir, env)
    if failed:
        raise StartupError(failed)
    if code:
        log.error("a worker exited with code %d, so the service stopped; the log above says why",
                  code)
    return code


def _worker_directories(workers: int,
                        env: MutableMapping[str, str]) -> tuple[str | None, str | None]:
    """Where several workers leave their metrics and why one could not start."""
    metrics_dir = failure_dir = None
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in env:
        # Workers are separate processes: prometheus-client adds up their files.
        metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-metrics-")
    if workers > 1:
        failure_dir = tempfile.mkdtemp(prefix="ivr-start-")
        env[START_FAILURE_FILE] = os.path.join(failure_dir, "failed")
    return metrics_dir, failure_dir


def _worker_failure(failure_dir: str | None, env: MutableMapping[str, str]) -> str | None:
    """What a worker wrote when its start failed, read once, its directory removed."""
    if failure_dir is None:
        return None
    failed = None
    try:
        failed = Path(env.pop(START_FAILURE_FILE)).read_text("utf-8").strip()
    except OSError:
        pass
    shutil.rmtree(failure_dir, ignore_errors=True)
    return failed


def _hand_over(hyper: HypercornConfig, sock: socket.socket, workers: int) -> None:
    # Hypercorn takes the socket bound above; it closes it when it is done.
    hyper.bind = [f"fd://{sock.detach()}"]
    hyper.application_path = APP_PATH
    # One worker runs in this process, so SIGTERM reaches it directly.
    hyper.workers = 0 if workers == 1 else workers
    hyper.accesslog = None
    # Hypercorn's own messages go through our handlers, and so through redaction.
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.graceful_timeout = 10
    hyper.worker_class = _event_loop()


def _event_loop() -> str:
    """uvloop where it is installed (a dependency wherever it has wheels): the
    benchmark measured 12-15% less CPU per text than asyncio's own loop."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        log.info("uvloop is not installed; serving on asyncio's event loop")
        return "asyncio"
    return "uvloop"

"""Serving on Hypercorn: `python run.py` and `ivr serve`.

Hypercorn's workers are separate processes started by import path, so the
parent hands everything to them through the environment and each worker
builds its app with `app_from_environment()`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets as random
import shutil
import tempfile
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, TextIO

from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run as hypercorn_run
from quart import Quart

from .app import create_app
from .config import Config, ConfigError, load_config
from .local_twilio import LOCAL_ACCOUNT_SID, LOCAL_API_KEY, LocalTwilio
from .logs import configure_logging
from .secrets import Secrets, SecretsError, load_secrets

log = logging.getLogger(__name__)

DEFAULT_BIND = "127.0.0.1:8080"
DEFAULT_CONFIG = "ivr.toml"
APP_PATH = "ivr.server:app_from_environment()"


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
    configure_logging(os.environ.get("IVR_LOG_LEVEL", "INFO"), secrets.values(),
                      os.environ.get("IVR_LOG_FORMAT", "text"))
    return create_app(config, secrets)


@dataclass
class ServeOptions:
    config: str | None
    bind: str | None
    workers: int


def serve(options: ServeOptions, out: TextIO = sys.stdout) -> int:
    path = config_path(options.config)
    config, secrets = load_everything(path)
    bind = options.bind or os.environ.get("IVR_BIND") or DEFAULT_BIND
    if options.workers < 1:
        raise StartupError(f"--workers {options.workers}: at least one worker is needed. "
                           f"Fix: pass --workers 1 or more")
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise StartupError(f"--bind {bind!r} is not HOST:PORT. Fix: e.g. --bind 127.0.0.1:8080")
    log_format = os.environ.get("IVR_LOG_FORMAT", "text")
    if log_format not in ("text", "json"):
        raise StartupError(f"IVR_LOG_FORMAT={log_format!r}. Fix: set it to text or json")
    configure_logging(os.environ.get("IVR_LOG_LEVEL", "INFO"), secrets.values(), log_format)

    env = os.environ
    env["IVR_CONFIG"] = path
    env["IVR_DATABASE"] = config.database
    local: LocalTwilio | None = None
    if secrets.local:
        token = random.token_hex(16)
        names = {r.phone: r.name for r in config.responders.values()}
        local = LocalTwilio(token, out, lambda number: names.get(number, "the customer"))
        api_base = local.start()
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

    metrics_dir = None
    if options.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in env:
        # Workers are separate processes: prometheus-client adds up their files.
        metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-metrics-")

    hyper = HypercornConfig()
    hyper.bind = [bind]
    hyper.application_path = APP_PATH
    # One worker runs in this process, so SIGTERM reaches it directly.
    hyper.workers = 0 if options.workers == 1 else options.workers
    hyper.accesslog = None
    # Hypercorn's own messages go through our handlers, and so through redaction.
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.graceful_timeout = 10
    hyper.worker_class = _event_loop()
    try:
        return hypercorn_run(hyper)
    finally:
        if local is not None:
            local.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


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

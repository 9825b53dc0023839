"""Local mode: no Twilio account is set, so `ivr serve` starts a printing
fake Twilio, makes up the credentials the workers need, saves them for
`ivr simulate` and says so in a banner."""

from __future__ import annotations

import json
import os
import secrets as random
from pathlib import Path
from typing import MutableMapping, TextIO

from .clock import SystemClock
from .config import Config
from .local_twilio import LOCAL_ACCOUNT_SID, LOCAL_API_KEY, LocalTwilio
from .secrets import Secrets
from .shown_command import config_argument, ivr_command
from .startup_checks import StartupError
from .store.dialect import is_postgres_url, shown_database
from .store.read_only import Unreadable, read_only


def local_state_path(config: Config) -> Path:
    """Where local mode leaves its generated token for `ivr simulate`: beside
    an SQLite database, or beside the config for PostgreSQL's."""
    if is_postgres_url(config.database):
        return Path(config.path).parent / POSTGRES_LOCAL_STATE
    return Path(config.database).with_name(Path(config.database).name + ".local.json")


POSTGRES_LOCAL_STATE = "ivr.local.json"


def _shared_token(config: Config, state: Path) -> str | None:
    """On PostgreSQL, instances started side by side (README, "Two machines")
    share one database and so one development token: `ivr simulate --url`
    then signs for whichever it talks to. On SQLite each start makes its own."""
    if not is_postgres_url(config.database):
        return None
    try:
        return json.loads(state.read_text("utf-8"))["auth_token"] or None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def start_local_mode(config: Config, secrets: Secrets, bind: str, out: TextIO,
                     env: MutableMapping[str, str]) -> LocalTwilio:
    """The fake Twilio, started, and `env` set so each worker uses it."""
    state = local_state_path(config)
    token = _shared_token(config, state) or random.token_hex(16)
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
    state.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"auth_token": token, "url": public,
                   "operator_password": operator_password}, handle)
    banner(out, config, public, state, operator_password)
    return local


def banner(out: TextIO, config: Config, public: str, state: Path,
           operator_password: str | None) -> None:
    line = next(iter(config.lines.values()))
    responder = config.responders[line.tiers[0][0]]
    simulate = f"{ivr_command()} simulate {config_argument(config.path)}"
    out.write(
        "\n"
        "  ivr is running in LOCAL MODE: no Twilio account is set, so texts go to a\n"
        "  built-in fake Twilio that prints them here. Nothing reaches a real phone.\n"
        f"  Service:  {public}    config: {config.path}    "
        f"database: {shown_database(config.database)}\n"
        f"  Dev auth token for signed webhooks: saved in {state} (mode 600)\n"
        f"  Dashboard: {public}/dashboard/  password: "
        f"{operator_password or '(IVR_OPERATOR_PASSWORD, as set)'}\n"
        "\n"
        "  In another terminal, text the line as a customer, then answer as a responder:\n"
        f"    {simulate} text --from +16195550142 \"Is anybody there?\"\n"
        f"    {simulate} text --as {responder.id} ACK\n"
        f"    {simulate} text --as {responder.id} \"On my way\"\n"
        f"  ({responder.name} is tier 1 of {line.name}; without an ACK within "
        f"{line.ack_seconds} s the next tier is paged.)\n"
        f"{_kept_history(config)}"
        "\n")
    out.flush()


def _kept_history(config: Config) -> str:
    """Said when the database already holds conversations: a walkthrough run
    again would join them rather than open #1."""
    if is_postgres_url(config.database):
        return ""
    try:
        kept = read_only(config.database, SystemClock().now(),
                         lambda tx: tx.open_conversations(limit=1))
    except Unreadable:
        return ""
    if not kept:
        return ""
    return ("  The database keeps what earlier runs did: a customer texting again joins "
            "their open\n  conversation. To start afresh, stop the service, then run:\n"
            f"    {ivr_command()} reset-local {config_argument(config.path)}\n")

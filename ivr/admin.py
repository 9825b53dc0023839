"""The operator's commands: check, log, conversations, twilio configure,
hash-password. Output goes to `out`; problems raise StartupError, which the
CLI prints to stderr with a non-zero exit."""

from __future__ import annotations

import asyncio
import getpass
import logging
import stat
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from twilio.base.exceptions import TwilioException

from .calendars import WINDOW_AFTER, CalendarCache, describe_source
from .clock import SystemClock, from_text
from .config import Config
from .gateway import SendError, TwilioGateway
from .passwords import hash_password
from .phone import InvalidPhoneNumber, mask, normalise
from .secrets import Secrets
from .server import (ServeOptions, StartupError, database_error, database_problem,
                     database_source, serve_settings)
from .store import DecisionRow, Store

VOICE_PATH, SMS_PATH, STATUS_PATH = "/voice/incoming", "/sms/incoming", "/voice/status"


# -- check ---------------------------------------------------------------------------

async def check(config: Config, secrets: Secrets, env_file: str | None, out: TextIO) -> int:
    """Config and secrets were validated by loading them; report what they say,
    and what `ivr serve` would do with them (it runs the same checks)."""
    settings = serve_settings(ServeOptions(config=None, bind=None, workers=1))
    out.write(f"config {config.path}: OK - {len(config.lines)} line(s), "
              f"{len(config.responders)} responder(s)\n")
    for line in config.lines.values():
        tiers = " -> ".join("+".join(tier) for tier in line.tiers)
        hours = "always open" if line.hours is None else f"hours, after hours {line.hours.after_hours}"
        out.write(f"  {line.id}: {line.name} {line.number}  tiers {tiers}  ({hours}"
                  f"{', menu' if line.menu else ''})\n")
    problem = database_problem(config.database)
    if problem:
        raise StartupError(database_error(config, problem, database_source(config)))
    out.write(f"database {config.database}: OK ("
              + ("exists" if Path(config.database).exists() else "created at the first start")
              + ")\n")
    if env_file:
        mode = stat.S_IMODE(Path(env_file).stat().st_mode)
        out.write(f"env file {env_file}: OK (mode {mode:o})\n")
    if secrets.local:
        out.write("secrets: none set - `ivr serve` would run in LOCAL MODE with a fake Twilio\n")
    else:
        rest = ("API key " + (secrets.api_key or "") if not secrets.uses_account_pair
                else "account SID and auth token (set TWILIO_API_KEY/SECRET to use a key)")
        out.write(f"secrets from {secrets.source}: OK - signatures checked with "
                  f"{len(secrets.signing_tokens())} token(s); REST client uses {rest}\n")
    if secrets.operator_password_hash:
        dashboard = "on (operator password set)"
    elif secrets.local:
        dashboard = ("on (LOCAL MODE: `ivr serve` generates a password and prints it in its "
                     "banner; set IVR_OPERATOR_PASSWORD to choose one)")
    else:
        dashboard = "off (set IVR_OPERATOR_PASSWORD to turn it on)"
    out.write(f"dashboard: {dashboard}\n")
    if config.calendars:
        await _check_calendars(config, out)
    base = secrets.public_base_url
    if not base:
        if not secrets.local:
            raise StartupError("IVR_PUBLIC_BASE_URL is not set. Fix: set it to the https "
                               "address Twilio reaches, then run `ivr check` again")
        out.write(f"IVR_PUBLIC_BASE_URL is not set; in local mode the service uses "
                  f"http://{settings.bind} ({settings.bind_from}; --bind changes it)\n")
        base = "https://YOUR-HOST"
    out.write("\nPaste into the Twilio console, for each line's number:\n"
              f"  A call comes in      (Webhook, HTTP POST): {base}{VOICE_PATH}\n"
              f"  A message comes in   (Webhook, HTTP POST): {base}{SMS_PATH}\n"
              f"  Call status changes  (optional, HTTP POST): {base}{STATUS_PATH}\n"
              "or let `ivr twilio configure` set them.\n")
    return 0


async def _check_calendars(config: Config, out: TextIO) -> None:
    """Each calendar read and expanded as the service does, with what it skips."""
    cache = CalendarCache(config.calendars, SystemClock())
    quiet = logging.getLogger("ivr.calendars")
    was_disabled, quiet.disabled = quiet.disabled, True   # said below, not logged twice
    try:
        await cache.refresh()
    finally:
        quiet.disabled = was_disabled
    for source in config.calendars:
        status = cache.status(source)
        name = describe_source(source)
        if not status.loaded:
            out.write(f"calendar {name}: NOT readable - {status.problem}; routing goes on "
                      f"without it\n")
            continue
        out.write(f"calendar {name}: readable - {status.events} event(s) in the coming "
                  f"{WINDOW_AFTER.days} days")
        if status.skipped:
            out.write(f"; {len(status.skipped)} event(s) skipped, the rest applies. Fix: "
                      f"correct or delete them in the tool that writes the calendar\n")
            for skipped in status.skipped:
                out.write(f"  skipped {skipped.describe()}\n")
        else:
            out.write("\n")


# -- log and conversations --------------------------------------------------------------

@dataclass
class LogFilter:
    line: str | None = None
    number: str | None = None
    conversation: int | None = None   # a code, as responders see it (#12)


def format_decision(row: DecisionRow, code: int | None) -> str:
    tier = f"tier {row.tier + 1}" if row.tier is not None else "-"
    conversation = f"#{code}" if code is not None else "-"
    return (f"{row.at[:19].replace('T', ' ')}Z  {row.line_id or '-':8} {row.channel:5} "
            f"{conversation:5} {tier:7} {row.responder_id or '-':10} {row.kind:22} {row.reason}")


async def log(config: Config, wanted: LogFilter, limit: int, follow: bool, out: TextIO,
              poll_seconds: float = 1.0, max_polls: int | None = None) -> int:
    if wanted.line and wanted.line not in config.lines:
        raise StartupError(f"--line {wanted.line!r} is not a line. Fix: use one of: "
                           f"{', '.join(config.lines)}")
    number = None
    if wanted.number:
        try:
            number = normalise(wanted.number)
        except InvalidPhoneNumber as exc:
            raise StartupError(f"--number: {exc}. Fix: give a number like +16195550142")
    responder_id = next((r.id for r in config.responders.values() if r.phone == number), None)
    store = await _open_store(config)
    try:
        conversation_id = None
        if wanted.conversation is not None:
            found = await store.read(lambda tx: tx.conversation_by_code(wanted.conversation,
                                                                        wanted.line))
            if found is None:
                raise StartupError(f"no conversation #{wanted.conversation}"
                                   + (f" on {wanted.line}" if wanted.line else "")
                                   + ". Fix: see `ivr conversations` for the open ones")
            conversation_id = found.id
        after = 0
        polls = 0
        while True:
            rows = await store.read(lambda tx: tx.find_decisions(
                limit=limit, after_id=after, line_id=wanted.line, number=number,
                responder_id=responder_id, conversation_id=conversation_id))
            codes = await store.read(lambda tx: tx.conversation_codes(
                {r.conversation_id for r in rows if r.conversation_id}))
            for row in rows:
                out.write(format_decision(row, codes.get(row.conversation_id or 0)) + "\n")
            out.flush()
            if rows:
                after = rows[-1].id
            elif after == 0 and not follow:
                out.write("(no decisions match)\n")
            if not follow:
                return 0
            polls += 1
            if max_polls is not None and polls >= max_polls:
                return 0
            await asyncio.sleep(poll_seconds)
    finally:
        await store.close()


async def conversations(config: Config, out: TextIO, now: datetime | None = None) -> int:
    store = await _open_store(config)
    try:
        rows = await store.read(lambda tx: tx.open_conversations(limit=1000))
    finally:
        await store.close()
    now = now or SystemClock().now()
    if not rows:
        out.write("No open conversations.\n")
        return 0
    for c in rows:
        line = config.lines.get(c.line_id)
        owner = config.responders.get(c.owner or "")
        if c.acked_at:
            state = f"{owner.name if owner else c.owner} has it (ACKed after " \
                    f"{_minutes(from_text(c.acked_at), from_text(c.opened_at))})"
        else:
            state = f"waiting {_minutes(now, from_text(c.opened_at))}, tier {c.tier + 1}"
        out.write(f"{line.code if line else c.line_id} #{c.code:<4} {mask(c.customer):14} "
                  f"{c.origin:9} {state}\n")
    return 0


def _minutes(later: datetime, earlier: datetime) -> str:
    seconds = max(int((later - earlier).total_seconds()), 0)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


async def _open_store(config: Config) -> Store:
    if not Path(config.database).exists():
        raise StartupError(f"the database {config.database} does not exist yet. Fix: start the "
                           "service once, or set IVR_DATABASE to its file")
    store = Store(config.database, SystemClock())
    await store.open()
    return store


# -- twilio configure ------------------------------------------------------------------

async def twilio_configure(config: Config, secrets: Secrets, dry_run: bool, out: TextIO,
                           err: TextIO) -> int:
    if not (secrets.account_sid and secrets.auth_token):
        raise StartupError("twilio configure needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN. "
                           "Fix: set both (the REST API key cannot change numbers)")
    base = secrets.public_base_url
    if not base:
        raise StartupError("IVR_PUBLIC_BASE_URL is not set, so there is nothing to point the "
                           "numbers at. Fix: set it to the https address Twilio reaches")
    wanted = {"voice_url": base + VOICE_PATH, "voice_method": "POST",
              "sms_url": base + SMS_PATH, "sms_method": "POST",
              "status_callback": base + STATUS_PATH, "status_callback_method": "POST"}
    gateway = TwilioGateway(secrets, admin=True)
    await gateway.start()
    problems = 0
    try:
        for line in config.lines.values():
            try:
                current = await gateway.find_number(line.number)
            except SendError as exc:
                raise StartupError(rest_problem(exc, secrets)) from None
            except TwilioException as exc:
                # A list page twilio-python cannot fetch raises its base class,
                # which the gateway does not translate.
                raise StartupError(rest_problem(_page_error(exc, line.number), secrets)) from None
            if current is None:
                err.write(f"ivr: {line.id}: {line.number} is not a number of account "
                                 f"{secrets.account_sid}. Fix: buy or port it, or correct "
                                 f"lines.{line.id}.number\n")
                problems += 1
                continue
            changes = {name: (getattr(current, name), value) for name, value in wanted.items()
                       if getattr(current, name) != value}
            if not changes:
                out.write(f"{line.id} {line.number} ({current.sid}): already set\n")
                continue
            verb = "would set" if dry_run else "setting"
            out.write(f"{line.id} {line.number} ({current.sid}): {verb}\n")
            for name, (old, new) in changes.items():
                out.write(f"  {name}: {old or '(none)'} -> {new}\n")
            if not dry_run:
                try:
                    await gateway.set_number_webhooks(current.sid, voice_url=wanted["voice_url"],
                                                      sms_url=wanted["sms_url"],
                                                      status_callback=wanted["status_callback"])
                except SendError as exc:
                    raise StartupError(rest_problem(exc, secrets)) from None
    finally:
        await gateway.close()
    return 1 if problems else 0


def _page_error(exc: TwilioException, number: str) -> SendError:
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    return SendError(f"Twilio answered HTTP {status} listing {mask(number)}",
                     retryable=False, http_status=status)


def rest_problem(exc: SendError, secrets: Secrets) -> str:
    """Twilio out of reach, the credentials refused, and anything else Twilio
    answered are three different fixes."""
    if exc.http_status is None:
        return (f"Twilio could not be reached at {secrets.api_base}: {exc}. Nothing was changed. "
                f"Fix: check this machine's network connection, proxy and DNS (or "
                f"TWILIO_API_BASE, if it is set), then run it again")
    if exc.http_status in (401, 403):
        return (f"Twilio refused the credentials ({exc}). Fix: check TWILIO_ACCOUNT_SID and "
                f"TWILIO_AUTH_TOKEN against the Twilio console (the auth token of that account, "
                f"not an API key's secret)")
    return (f"{exc}. Fix: see Twilio's error code above "
            f"(https://www.twilio.com/docs/api/errors), then run it again")


# -- hash-password ---------------------------------------------------------------------

def hash_password_command(out: TextIO, stdin: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    if stdin.isatty():
        password = getpass.getpass("Operator password: ")
        if getpass.getpass("Again: ") != password:
            raise StartupError("the two passwords differ. Fix: run it again")
    else:
        password = stdin.readline().rstrip("\n")
    if len(password) < 10:
        raise StartupError("the password is shorter than 10 characters. Fix: choose a longer one")
    out.write(hash_password(password) + "\n")
    return 0

"""The operator's commands: log, conversations, twilio configure,
hash-password (`ivr check` is in check.py). Output goes to `out`;
problems raise StartupError, which the CLI prints to stderr with a
non-zero exit."""

from __future__ import annotations

import asyncio
import getpass
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from twilio.base.exceptions import TwilioException

from . import messaging_setup
from .clock import SystemClock, from_text
from .config import Config
from .gateway import PhoneNumberConfig, SendError, TwilioGateway
from .ownership import how_owned
from .passwords import hash_password
from .phone import InvalidPhoneNumber, mask, normalise
from .secrets import Secrets
from .shown_times import date_and_time, day_and_time, line_zone
from .startup_checks import StartupError
from .store import AnyStore, DecisionRow, store_for
from .store.dialect import is_postgres_url
from .webhooks import CONNECTION_OVERRIDES

VOICE_PATH, SMS_PATH, STATUS_PATH = "/voice/incoming", "/sms/incoming", "/voice/status"


# -- log and conversations --------------------------------------------------------------

@dataclass
class LogFilter:
    line: str | None = None
    number: str | None = None
    conversation: int | None = None   # a code, as responders see it (#12)


def format_decision(row: DecisionRow, code: int | None, zone: ZoneInfo) -> str:
    tier = f"tier {row.tier + 1}" if row.tier is not None else "-"
    conversation = f"#{code}" if code is not None else "-"
    return (f"{date_and_time(row.at, zone)}  {row.line_id or '-':8} {row.channel:5} "
            f"{conversation:5} {tier:7} {row.responder_id or '-':10} {row.kind:22} {row.reason}")


async def log(config: Config, wanted: LogFilter, limit: int, follow: bool, out: TextIO,
              poll_seconds: float = 1.0, max_polls: int | None = None) -> int:
    number, responder_id = _number_filter(config, wanted)
    store = await _open_store(config)
    try:
        conversation_id = await _conversation_filter(store, wanted)
        after = 0
        polls = 0
        while True:
            rows = await store.read(lambda tx: tx.find_decisions(
                limit=limit, after_id=after, line_id=wanted.line, number=number,
                responder_id=responder_id, conversation_id=conversation_id))
            codes = await store.read(lambda tx: tx.conversation_codes(
                {r.conversation_id for r in rows if r.conversation_id}))
            for row in rows:
                out.write(format_decision(row, codes.get(row.conversation_id or 0),
                                          line_zone(config, row.line_id)) + "\n")
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


def _number_filter(config: Config, wanted: LogFilter) -> tuple[str | None, str | None]:
    """--line checked, and --number as E.164 with the responder it belongs to."""
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
    return number, responder_id


async def _conversation_filter(store: AnyStore, wanted: LogFilter) -> int | None:
    """--conversation CODE as the id of the latest conversation with that code."""
    if wanted.conversation is None:
        return None
    found = await store.read(lambda tx: tx.conversation_by_code(wanted.conversation,
                                                                wanted.line))
    if found is None:
        raise StartupError(f"no conversation #{wanted.conversation}"
                           + (f" on {wanted.line}" if wanted.line else "")
                           + ". Fix: see `ivr conversations` for the open ones")
    return found.id


async def conversations(config: Config, out: TextIO, now: datetime | None = None) -> int:
    store = await _open_store(config)
    try:
        rows, owned = await store.read(
            lambda tx: (tx.open_conversations(limit=1000), tx.open_ownerships()))
    finally:
        await store.close()
    now = now or SystemClock().now()
    if not rows:
        out.write("No open conversations.\n")
        return 0
    for c in rows:
        line = config.lines.get(c.line_id)
        owner = config.responders.get(c.owner or "")
        if c.owner:
            how = how_owned(owned.get(c.id), c, _minutes)
            got = (f"handed over by {how['handed_by']}" if how["handed_by"]
                   else "ACKed")
            after = f" after {how['acked_after']}" if how["acked_after"] else ""
            state = f"{owner.name if owner else c.owner} has it ({got}{after})"
        else:
            state = f"waiting {_minutes(now, from_text(c.opened_at))}, tier {c.tier + 1}"
        opened = day_and_time(c.opened_at, line_zone(config, c.line_id))
        out.write(f"{line.code if line else c.line_id} #{c.code:<4} {mask(c.customer):14} "
                  f"{c.origin:9} opened {opened}  {state}\n")
    return 0


def _minutes(later: datetime, earlier: datetime) -> str:
    seconds = max(int((later - earlier).total_seconds()), 0)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


async def _open_store(config: Config) -> AnyStore:
    if not is_postgres_url(config.database) and not Path(config.database).exists():
        raise StartupError(f"the database {config.database} does not exist yet. Fix: start the "
                           "service once, or set IVR_DATABASE to its file")
    store = store_for(config.database, SystemClock())
    await store.open()
    return store


# -- twilio configure ------------------------------------------------------------------

async def twilio_configure(config: Config, secrets: Secrets, dry_run: bool, out: TextIO,
                           err: TextIO, fix_services: bool = False) -> int:
    """Each line's number pointed at ivr; then the Messaging Services that hold
    them, which can send texts elsewhere (set to defer with `fix_services`)."""
    if not (secrets.account_sid and secrets.auth_token):
        raise StartupError("twilio configure needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN. "
                           "Fix: set both (the REST API key cannot change numbers)")
    base = secrets.public_base_url
    if not base:
        raise StartupError("IVR_PUBLIC_BASE_URL is not set, so there is nothing to point the "
                           "numbers at. Fix: set it to the https address Twilio reaches")
    wanted = wanted_webhooks(base, secrets.fallback_base_url)
    gateway = TwilioGateway(secrets, admin=True)
    await gateway.start()
    problems = 0
    try:
        for line in config.lines.values():
            current = await _find_number(gateway, line.number, secrets)
            if current is None:
                err.write(f"ivr: {line.id}: {line.number} is not a number of account "
                          f"{secrets.account_sid}. Fix: buy or port it, or correct "
                          f"lines.{line.id}.number\n")
                problems += 1
                continue
            await _point_number(gateway, line.id, line.number, current, wanted, dry_run,
                                secrets, out)
        try:
            problems += await messaging_setup.configure(
                gateway, config.lines.values(), wanted["sms_url"], fix_services, dry_run, out,
                err)
        except SendError as exc:
            raise StartupError(rest_problem(exc, secrets)) from None
    finally:
        await gateway.close()
    return 1 if problems else 0


def wanted_webhooks(base: str, fallback: str | None) -> dict[str, str]:
    """Each webhook a number should have, with the connection overrides that
    make Twilio retry a failed connection or a 5xx (see CONNECTION_OVERRIDES).
    Without a fallback address the numbers' fallback URLs are left alone."""
    def url(at: str, path: str) -> str:
        return at + path + CONNECTION_OVERRIDES
    wanted = {"voice_url": url(base, VOICE_PATH), "voice_method": "POST",
              "sms_url": url(base, SMS_PATH), "sms_method": "POST",
              "status_callback": url(base, STATUS_PATH), "status_callback_method": "POST"}
    if fallback:
        wanted.update({"voice_fallback_url": url(fallback, VOICE_PATH),
                       "voice_fallback_method": "POST",
                       "sms_fallback_url": url(fallback, SMS_PATH),
                       "sms_fallback_method": "POST"})
    return wanted


async def _find_number(gateway: TwilioGateway, number: str,
                       secrets: Secrets) -> PhoneNumberConfig | None:
    try:
        return await gateway.find_number(number)
    except SendError as exc:
        raise StartupError(rest_problem(exc, secrets)) from None
    except TwilioException as exc:
        # A list page twilio-python cannot fetch raises its base class,
        # which the gateway does not translate.
        raise StartupError(rest_problem(_page_error(exc, number), secrets)) from None


async def _point_number(gateway: TwilioGateway, line_id: str, number: str,
                        current: PhoneNumberConfig, wanted: dict[str, str], dry_run: bool,
                        secrets: Secrets, out: TextIO) -> None:
    """One number's webhooks set to `wanted` (or, dry, what would change printed)."""
    changes = {name: (getattr(current, name), value) for name, value in wanted.items()
               if getattr(current, name) != value}
    if not changes:
        out.write(f"{line_id} {number} ({current.sid}): already set\n")
        return
    verb = "would set" if dry_run else "setting"
    out.write(f"{line_id} {number} ({current.sid}): {verb}\n")
    for name, (old, new) in changes.items():
        out.write(f"  {name}: {old or '(none)'} -> {new}\n")
    if dry_run:
        return
    try:
        await gateway.set_number_webhooks(current.sid, voice_url=wanted["voice_url"],
                                          sms_url=wanted["sms_url"],
                                          status_callback=wanted["status_callback"],
                                          voice_fallback_url=wanted.get("voice_fallback_url"),
                                          sms_fallback_url=wanted.get("sms_fallback_url"))
    except SendError as exc:
        raise StartupError(rest_problem(exc, secrets)) from None


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

"""`ivr check`: what the config and secrets say, and what `ivr serve` would
do with them (it runs the same checks), without starting anything or
writing any file."""

from __future__ import annotations

import logging
import stat
from datetime import datetime
from pathlib import Path
from typing import TextIO

from . import messaging_setup
from .admin import SMS_PATH, STATUS_PATH, VOICE_PATH, rest_problem
from .calendars import WINDOW_AFTER, CalendarCache, describe_source
from .clock import Clock, SystemClock
from .config import Config
from .gateway import SendError
from .roster import Roster
from .routing_preview import describe, preview
from .secrets import Secrets
from .server import ServeOptions, ServeSettings, serve_settings
from .shown_times import day_and_time, line_zone
from .startup_checks import StartupError, database_error, database_problem, database_source
from .store.dialect import is_postgres_url, shown_database
from .schema_command import recorded_version
from .store.migrations import LATEST, too_new_message
from .store.read_only import Unreadable, read_only
from .unreachable_numbers import unreachable_numbers


async def check(config: Config, secrets: Secrets, env_file: str | None, out: TextIO,
                clock: Clock | None = None) -> int:
    """Config and secrets were validated by loading them; report what they say,
    and what `ivr serve` would do with them (it runs the same checks)."""
    clock = clock or SystemClock()
    settings = serve_settings(ServeOptions(config=None, bind=None, workers=1))
    _report_lines(config, out)
    _report_database(config, out)
    _report_unreachable(config, out)
    _report_secrets(secrets, env_file, out, _accounts(config))
    calendars = CalendarCache(config.calendars, clock)
    if config.calendars:
        await _check_calendars(config, calendars, out)
    _report_routing(config, calendars, clock.now(), out)
    _report_webhooks(secrets, settings, out)
    return 1 if await _report_messaging_services(config, secrets, out) else 0


async def _report_messaging_services(config: Config, secrets: Secrets, out: TextIO) -> bool:
    """Whether a line's Messaging Service keeps texts from ivr (read from
    Twilio only when a line names one: ivr.messaging_setup)."""
    if not messaging_setup.need_reading(config):
        return False
    out.write("\n")
    base = secrets.public_base_url or "https://YOUR-HOST"
    try:
        found = await messaging_setup.check(config, secrets, base + SMS_PATH, out)
    except SendError as exc:
        raise StartupError("could not read the Messaging Services: "
                           + rest_problem(exc, secrets)) from None
    except ValueError as exc:   # no REST credentials
        raise StartupError(f"could not read the Messaging Services: {exc}. Fix: set them "
                           "and run `ivr check` again") from None
    return any(finding.problem for finding in found)


def _report_lines(config: Config, out: TextIO) -> None:
    out.write(f"config {config.path}: OK - {len(config.lines)} line(s), "
              f"{len(config.responders)} responder(s)\n")
    for line in config.lines.values():
        tiers = " -> ".join("+".join(tier) for tier in line.tiers)
        hours = ("always open" if line.hours is None
                 else f"hours, after hours {line.hours.after_hours}")
        out.write(f"  {line.id}: {line.name} {line.number}  tiers {tiers}  ({hours}"
                  f"{', menu' if line.menu else ''})\n")
        for language in line.languages.by_code.values():
            # What each language speaks with: the voice Twilio was checked to have.
            recorded = ", ".join(sorted(language.recordings))
            out.write(f"    speaks {language.code} with {language.voice}"
                      f"{f'; plays recordings for {recorded}' if recorded else ''}\n")


def _report_routing(config: Config, calendars: CalendarCache, now: datetime,
                    out: TextIO) -> None:
    """Per line, who calls and texts reach now, after hours and on the next
    holiday, decided by the service's own rules (ivr.routing_preview)."""
    try:
        overrides = read_only(config.database, now, lambda tx: tx.overrides()) or {}
        counted = "texted OFF/ON"
    except Unreadable as exc:
        overrides, counted = {}, f"no texted OFF/ON (the database cannot be read: {exc})"
    out.write(f"\nWho is reached (schedules, calendars and {counted}, as the service "
              "reads them; calendars cover the coming "
              f"{WINDOW_AFTER.days} days):\n")
    roster = Roster(config, calendars)
    for line_id, shown in preview(config, roster, now, overrides).items():
        line = config.lines[line_id]
        out.write(f"  {line.id}: {line.name}\n")
        for moment, result in shown:
            out.write("".join(f"{text}\n" for text in describe(line, moment, result)))


def _report_database(config: Config, out: TextIO) -> None:
    if is_postgres_url(config.database):
        _report_postgres(config, out)
        return
    problem = database_problem(config.database)
    if problem:
        raise StartupError(database_error(config, problem, database_source(config)))
    if not Path(config.database).exists():
        out.write(f"database {config.database}: OK (created at the first start)\n")
        return
    out.write(f"database {config.database}: OK (exists{_schema_note(config)})\n")


def _schema_note(config: Config) -> str:
    """The schema version, and what serve will do about it; a database newer
    than this ivr is an error."""
    version = recorded_version(config)
    if version is None:
        return ""
    if version > LATEST:
        raise StartupError(too_new_message(version, shown_database(config.database)))
    if version < LATEST:
        return f", schema version {version}; `ivr serve` or `ivr db upgrade` takes it to {LATEST}"
    return f", schema version {version}"


def _report_postgres(config: Config, out: TextIO) -> None:
    out.write(f"database {shown_database(config.database)}: OK (PostgreSQL"
              f"{_schema_note(config) or '; ivr creates its tables at the first start'})\n")


def _report_unreachable(config: Config, out: TextIO) -> None:
    """A warning for each number Twilio said cannot take texts, read without
    writing (a running service keeps the database; a missing one is fine)."""
    try:
        marked = read_only(config.database, SystemClock().now(),
                           lambda tx: unreachable_numbers(tx, config))
    except Unreadable as exc:
        out.write(f"numbers that cannot take texts: not read from "
                  f"{shown_database(config.database)} ({exc}); "
                  f"the dashboard lists them\n")
        return
    for n in marked or ():
        fix = ("text the line from that phone, or clear it on the dashboard" if n.responder
               else "clear it on the dashboard once the customer can take texts again")
        out.write(f"WARNING: {n.whose} {n.masked} cannot take texts (Twilio error "
                  f"{n.error_code or 'none'}, since {day_and_time(n.marked_at, line_zone(config))})"
                  f", so nothing is texted to it. Fix: {fix}\n")


def _accounts(config: Config) -> int | None:
    """How many operator accounts the store has (`ivr user`), if it can be read."""
    try:
        users = read_only(config.database, SystemClock().now(), lambda tx: tx.users())
    except Unreadable:
        return None
    return len(users or ())


def _report_secrets(secrets: Secrets, env_file: str | None, out: TextIO,
                    accounts: int | None = None) -> None:
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
    named = f"{accounts} operator account(s) from `ivr user`" if accounts else None
    if secrets.operator_password_hash:
        dashboard = "on (operator password set" + (f"; {named})" if named else ")")
    elif named:
        dashboard = f"on ({named}; no shared operator password)"
    elif secrets.local:
        dashboard = ("on (LOCAL MODE: `ivr serve` generates a password and prints it in its "
                     "banner; set IVR_OPERATOR_PASSWORD to choose one)")
    else:
        dashboard = "off (set IVR_OPERATOR_PASSWORD to turn it on)"
    out.write(f"dashboard: {dashboard}\n")


def _report_webhooks(secrets: Secrets, settings: ServeSettings, out: TextIO) -> None:
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


async def _check_calendars(config: Config, cache: CalendarCache, out: TextIO) -> None:
    """Each calendar read and expanded as the service does, with what it skips."""
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

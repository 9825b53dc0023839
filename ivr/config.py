"""The line configuration: a TOML file, validated whole at start.

Every problem is reported as a ConfigError that names the file, the key and
the fix, because the person reading it is setting up a phone line at 3 a.m.
and should not have to read this module to understand what went wrong.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from .config_consistency import check_consistency
from .config_paths import beside_config
from .default_wording import (COMMON_VARIABLES, DEFAULT_MESSAGES, MESSAGE_SAMPLE,
                              MESSAGE_VARIABLES)
from .hooks.config import Hook, parse_hooks
from .line_integrations import INTEGRATION_KEYS, LineIntegrations, with_integrations
from .line_languages import LINE_LANGUAGE_KEYS, LineLanguages, with_languages
from .line_policy import LINE_KEYS, LinePolicy, with_policies
from .messaging_services import messaging_service_sid
from .phone import InvalidPhoneNumber, normalise
from .schedule import Hours, ResponderSchedule, ScheduleError, parse_holidays, parse_window, zone


class ConfigError(Exception):
    def __init__(self, path: Path | str, key: str, problem: str, fix: str):
        self.path = str(path)
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {key}: {problem}. Fix: {fix}")


RING_SECONDS_RANGE = (5, 120)  # Twilio's Dial timeout is capped; below 5 s nobody can pick up
ACK_SECONDS_RANGE = (15, 86_400)
VOICEMAIL_SECONDS_RANGE = (10, 600)
CALL_DEADLINE_RANGE = (30, 3_600)
FLOOD_SECONDS_RANGE = (0, 3_600)
RETENTION_DAYS_RANGE = (1, 36_500)  # a day at least: a closed conversation can still be ACKed late
# Texts under way at Twilio's REST API at once, shared by this machine's
# workers. Twilio caps each account's concurrent REST requests and refuses
# the excess with HTTP 429 (error 20429); it does not publish the figure,
# which is commonly 100. The default leaves room for ivr's other REST calls
# (phone pages, one at a time per worker), its CLI and other users.
TWILIO_CONCURRENCY_DEFAULT = 90
TWILIO_CONCURRENCY_RANGE = (1, 1_000)
MENU_DIGITS = "123456789"
# The text-back key at the voicemail prompt: one key, or "" for none. Not #:
# the recording that follows ends on it.
TEXT_BACK_KEYS = frozenset(["", *"0123456789*"])


@dataclass(frozen=True)
class MenuOption:
    digit: str
    name: str          # also what a caller may say
    tiers: tuple[tuple[str, ...], ...]
    language: str | None = None   # the rest of the call's, when chosen


@dataclass(frozen=True)
class Menu:
    prompt: str
    options: tuple[MenuOption, ...]

    def choose(self, digits: str | None, speech: str | None) -> MenuOption | None:
        """The option a caller picked by key or by saying its name."""
        if digits:
            return next((o for o in self.options if o.digit == digits.strip()[:1]), None)
        said = (speech or "").lower()
        for option in self.options:
            if option.name.lower() in said:
                return option
        return None


@dataclass(frozen=True)
class Responder:
    id: str
    name: str
    phone: str
    schedule: ResponderSchedule = ResponderSchedule(zone("UTC"))
    phone_pages: bool = True    # false: paged by text only, never phoned
    language: str | None = None  # what they read and hear; None: each line's


@dataclass(frozen=True)
class Line:
    id: str
    name: str
    number: str
    tiers: tuple[tuple[str, ...], ...]
    ring_seconds: int
    ack_seconds: int
    code: str
    messages: Mapping[str, str]
    voicemail_seconds: int = 120
    call_deadline_seconds: int = 300
    menu: Menu | None = None
    hours: Hours | None = None
    flood_seconds: int = 30
    policy: LinePolicy = LinePolicy()
    # The key a caller presses at the voicemail prompt to be texted back
    # instead of leaving a message; "" offers nothing.
    text_back_key: str = "1"
    # A Messaging Service SID: texts are sent through it (MessagingServiceSid,
    # not From), as A2P 10DLC registration needs. None: sent from `number`.
    messaging_service: str | None = None
    integrations: LineIntegrations = LineIntegrations()
    languages: LineLanguages = LineLanguages()

    @property
    def responder_ids(self) -> tuple[str, ...]:
        """Everyone on the line, in tier order, each once."""
        seen: dict[str, None] = {}
        options = self.menu.options if self.menu else ()
        for tier in (*self.tiers, *(t for o in options for t in o.tiers)):
            for rid in tier:
                seen.setdefault(rid, None)
        return tuple(seen)


@dataclass(frozen=True)
class Config:
    path: str
    responders: Mapping[str, Responder]
    lines: Mapping[str, Line]
    database: str
    calendars: tuple[str, ...] = ()
    retention_days: int | None = None   # None: keep everything for ever
    hooks: tuple[Hook, ...] = ()        # [hooks.NAME]: where events are POSTed
    twilio_concurrency: int = TWILIO_CONCURRENCY_DEFAULT
    _lines_by_number: Mapping[str, Line] = field(repr=False, default_factory=dict)

    def line_for_number(self, number: str | None) -> Line | None:
        return self._lines_by_number.get(number or "")

    def responder_by_phone(self, line: Line, phone: str | None) -> Responder | None:
        for rid in line.responder_ids:
            if self.responders[rid].phone == phone:
                return self.responders[rid]
        return None


_message_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=512)
def _compiled(template_source: str) -> Template:
    # Compiling is a thousand times dearer than rendering; each line has a
    # handful of templates, compiled once per process.
    return _message_env.from_string(template_source)


def render_message(template_source: str, **variables: Any) -> str:
    return _compiled(template_source).render(**variables)


def load_config(path: str | Path, database_override: str | None = None) -> Config:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "the file does not exist",
                          "pass --config PATH or set IVR_CONFIG to an existing TOML file, "
                          "e.g. examples/ivr.toml") from None
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read ({exc.strerror})",
                          "check the path and its permissions") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(path, "(file)", "is not UTF-8 text", "save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(file)", f"is not valid TOML ({exc})",
                          "correct the syntax at the position shown") from None
    return parse_config(data, path, database_override)


def parse_config(data: Mapping[str, Any], path: str | Path = "<config>",
                 database_override: str | None = None) -> Config:
    v = _Validator(path)
    v.only_keys(data, "", {"service", "responders", "lines", "hooks"})

    service = v.table(data, "service", required=False)
    v.only_keys(service, "service", {"database", "timezone", "calendars", "blocked",
                                     "retention_days", "twilio_concurrency"})
    database = database_override or beside_config(
        path, v.string(service, "service.database", "database", default="ivr.sqlite3"))
    default_tz = v.timezone(service, "service.timezone", "UTC")
    calendars = v.calendars(service, "service.calendars")
    retention_days = v.days(service, "service.retention_days", RETENTION_DAYS_RANGE)
    twilio_concurrency = v.count(service, "service.twilio_concurrency",
                                 TWILIO_CONCURRENCY_DEFAULT, TWILIO_CONCURRENCY_RANGE)
    responders = _parse_responders(v, data, default_tz.key)
    lines = with_policies(v, data, _parse_lines(v, data, responders, default_tz.key), default_tz)
    lines = with_integrations(v, data, lines, responders, lambda s: beside_config(path, s))
    lines = with_languages(v, data, lines, responders)
    hooks = parse_hooks(v, data, set(lines))
    check_consistency(v, lines, hooks)
    return Config(path=str(path), responders=responders, lines=lines, database=database,
                  calendars=tuple(beside_config(path, c) for c in calendars),
                  retention_days=retention_days, hooks=hooks,
                  twilio_concurrency=twilio_concurrency,
                  _lines_by_number={line.number: line for line in lines.values()})


def _parse_responders(v: "_Validator", data: Mapping[str, Any],
                      default_tz: str) -> dict[str, Responder]:
    responders_raw = v.table(data, "responders", required=True)
    if not responders_raw:
        raise ConfigError(v.path, "responders", "no responders are defined",
                          'add at least one [responders.<id>] table with name and phone')
    responders: dict[str, Responder] = {}
    phones: dict[str, str] = {}
    for rid, entry in responders_raw.items():
        key = f"responders.{rid}"
        v.identifier(rid, key)
        entry = v.table(responders_raw, rid, required=True, key=key)
        v.only_keys(entry, key, {"name", "phone", "timezone", "on_duty", "on_call",
                                 "phone_pages", "language"})
        name = v.string(entry, f"{key}.name", "name")
        phone = v.phone(entry, f"{key}.phone")
        schedule = ResponderSchedule(
            tz=v.timezone(entry, f"{key}.timezone", default_tz),
            on_duty=v.windows(entry, f"{key}.on_duty"),
            on_call=v.windows(entry, f"{key}.on_call"))
        if phone in phones:
            raise ConfigError(v.path, f"{key}.phone",
                              f"the same number as responders.{phones[phone]}.phone",
                              "give each responder their own phone number")
        phones[phone] = rid
        responders[rid] = Responder(id=rid, name=name, phone=phone, schedule=schedule,
                                    phone_pages=v.flag(entry, f"{key}.phone_pages", True),
                                    language=v.optional_string(entry, f"{key}.language"))
    return responders


def _parse_lines(v: "_Validator", data: Mapping[str, Any], responders: dict[str, Responder],
                 default_tz: str) -> dict[str, Line]:
    lines_raw = v.table(data, "lines", required=True)
    if not lines_raw:
        raise ConfigError(v.path, "lines", "no lines are defined",
                          "add a [lines.<id>] table with name, number and tiers")
    phones = {responder.phone: rid for rid, responder in responders.items()}
    lines: dict[str, Line] = {}
    by_number: dict[str, Line] = {}
    for lid, entry in lines_raw.items():
        key = f"lines.{lid}"
        v.identifier(lid, key)
        entry = v.table(lines_raw, lid, required=True, key=key)
        line = _parse_line(v, lid, key, entry, responders, default_tz)
        if line.number in by_number:
            raise ConfigError(v.path, f"{key}.number",
                              f"the same number as lines.{by_number[line.number].id}.number",
                              "each line needs its own Twilio number")
        if line.number in phones:
            raise ConfigError(v.path, f"{key}.number",
                              f"the same number as responders.{phones[line.number]}.phone",
                              "a line's number is the Twilio number, not a responder's phone")
        lines[lid] = by_number[line.number] = line
    return lines


def _parse_line(v: "_Validator", lid: str, key: str, entry: Mapping[str, Any],
                responders: dict[str, Responder], default_tz: str) -> Line:
    v.only_keys(entry, key, {"name", "number", "code", "tiers", "ring_seconds",
                             "ack_seconds", "messages", "voicemail_seconds",
                             "call_deadline_seconds", "menu", "hours", "flood_seconds",
                             "text_back_key", "messaging_service"} | LINE_KEYS
                  | INTEGRATION_KEYS | LINE_LANGUAGE_KEYS)
    name = v.string(entry, f"{key}.name", "name")
    number = v.phone(entry, f"{key}.number")
    return Line(
        id=lid, name=name, number=number,
        code=v.string(entry, f"{key}.code", "code", default=_initials(name)),
        tiers=v.tiers(entry, f"{key}.tiers", responders),
        ring_seconds=v.integer(entry, f"{key}.ring_seconds", "ring_seconds", 20,
                               RING_SECONDS_RANGE),
        ack_seconds=v.integer(entry, f"{key}.ack_seconds", "ack_seconds", 120,
                              ACK_SECONDS_RANGE),
        messages=v.messages(entry, f"{key}.messages"),
        voicemail_seconds=v.integer(entry, f"{key}.voicemail_seconds", "voicemail_seconds",
                                    120, VOICEMAIL_SECONDS_RANGE),
        call_deadline_seconds=v.integer(entry, f"{key}.call_deadline_seconds",
                                        "call_deadline_seconds", 300, CALL_DEADLINE_RANGE),
        menu=v.menu(entry, f"{key}.menu", responders),
        hours=v.hours(entry, f"{key}.hours", default_tz),
        flood_seconds=v.integer(entry, f"{key}.flood_seconds", "flood_seconds", 30,
                                FLOOD_SECONDS_RANGE),
        text_back_key=v.text_back_key(entry, f"{key}.text_back_key"),
        messaging_service=messaging_service_sid(v, entry, f"{key}.messaging_service"))


def _initials(name: str) -> str:
    letters = "".join(word[0] for word in name.split() if word[:1].isalnum())
    return (letters or name[:3]).upper()


class _Validator:
    def __init__(self, path: str | Path):
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(self.path, key, problem, fix)

    def only_keys(self, table: Mapping[str, Any], key: str, allowed: set[str]) -> None:
        for name in table:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                raise self.fail(where, "unknown key",
                                f"remove it or use one of: {', '.join(sorted(allowed))}")

    def table(self, data: Mapping[str, Any], name: str, required: bool,
              key: str | None = None) -> dict[str, Any]:
        key = key or name
        if name not in data:
            if required:
                raise self.fail(key, "missing", f"add a [{key}] table")
            return {}
        value = data[name]
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {type(value).__name__}",
                            f"write it as [{key}] with keys below it")
        return value

    def identifier(self, name: str, key: str) -> None:
        if not name.replace("_", "").replace("-", "").isalnum() or not name.isascii():
            raise self.fail(key, "the id may hold only letters, digits, '-' and '_'",
                            "rename the table, e.g. [responders.sergio]")

    def string(self, table: Mapping[str, Any], key: str, name: str,
               default: str | None = None) -> str:
        if name not in table:
            if default is not None:
                return default
            raise self.fail(key, "missing", f'add {name} = "..."')
        value = table[name]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string", f'write {name} = "..."')
        return value.strip()

    def optional_string(self, table: Mapping[str, Any], key: str) -> str | None:
        name = key.rsplit(".", 1)[1]
        return self.string(table, key, name) if name in table else None

    def phone(self, table: Mapping[str, Any], key: str) -> str:
        name = key.rsplit(".", 1)[1]
        raw = self.string(table, key, name)
        try:
            return normalise(raw)
        except InvalidPhoneNumber as exc:
            raise self.fail(key, str(exc),
                            'write the number in E.164 form, e.g. "+16195550100"') from None

    def integer(self, table: Mapping[str, Any], key: str, name: str, default: int,
                bounds: tuple[int, int]) -> int:
        value = table.get(name, default)
        low, high = bounds
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "must be a whole number of seconds",
                            f"write {name} = {default}")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is out of range",
                            f"use a number from {low} to {high}")
        return value

    def count(self, table: Mapping[str, Any], key: str, default: int,
              bounds: tuple[int, int]) -> int:
        """A whole number of things within `bounds`, `default` when unset."""
        name = key.rsplit(".", 1)[1]
        value = table.get(name, default)
        low, high = bounds
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, not {value!r}",
                            f"write {name} = {default}")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is out of range",
                            f"use a number from {low} to {high}, e.g. {name} = {default}")
        return value

    def flag(self, table: Mapping[str, Any], key: str, default: bool) -> bool:
        name = key.rsplit(".", 1)[1]
        value = table.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false", f"write {name} = {str(default).lower()}")
        return value

    def days(self, table: Mapping[str, Any], key: str, bounds: tuple[int, int]) -> int | None:
        """An optional whole number of days; None when it is not set."""
        name = key.rsplit(".", 1)[1]
        if name not in table:
            return None
        value = table[name]
        low, high = bounds
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number of days, not {value!r}",
                            f"write {name} = 90, or remove it to keep everything")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is out of range",
                            f"use a number of days from {low} to {high}, e.g. {name} = 90")
        return value

    def tiers(self, table: Mapping[str, Any], key: str,
              responders: Mapping[str, Responder]) -> tuple[tuple[str, ...], ...]:
        if "tiers" not in table:
            raise self.fail(key, "missing", 'add tiers = ["<responder id>", ...]')
        raw = table["tiers"]
        if not isinstance(raw, list) or not raw:
            raise self.fail(key, "must be a non-empty list",
                            'write tiers = ["sergio", ["alice", "bob"]]')
        known = ", ".join(sorted(responders))
        tiers: list[tuple[str, ...]] = []
        for i, element in enumerate(raw):
            members = element if isinstance(element, list) else [element]
            if not members:
                raise self.fail(f"{key}[{i}]", "an empty tier rings nobody",
                                "remove it or name at least one responder")
            tier: list[str] = []
            for member in members:
                if not isinstance(member, str) or member not in responders:
                    raise self.fail(f"{key}[{i}]", f"unknown responder {member!r}",
                                    f"use one of the [responders] ids: {known}")
                if member in tier:
                    raise self.fail(f"{key}[{i}]", f"{member!r} is named twice in one tier",
                                    "name each responder once per tier")
                tier.append(member)
            tiers.append(tuple(tier))
        return tuple(tiers)

    def timezone(self, table: Mapping[str, Any], key: str, default: str):
        name = self.string(table, key, key.rsplit(".", 1)[1], default=default)
        try:
            return zone(name)
        except ScheduleError as exc:
            raise self.fail(key, str(exc), 'write timezone = "America/Los_Angeles"') from None

    def windows(self, table: Mapping[str, Any], key: str):
        name = key.rsplit(".", 1)[1]
        raw = table.get(name, [])
        if not isinstance(raw, list) or not all(isinstance(w, str) for w in raw):
            raise self.fail(key, "must be a list of windows",
                            f'write {name} = ["mon-fri 08:00-18:00"]')
        try:
            return tuple(parse_window(w) for w in raw)
        except ScheduleError as exc:
            raise self.fail(key, str(exc), 'write windows like "mon-fri 08:00-18:00" or '
                                           '"daily 18:00-08:00" (overnight)') from None

    def calendars(self, table: Mapping[str, Any], key: str) -> list[str]:
        raw = table.get("calendars", [])
        if not isinstance(raw, list) or not all(isinstance(c, str) and c.strip() for c in raw):
            raise self.fail(key, "must be a list of iCalendar files or URLs",
                            'write calendars = ["oncall.ics"]')
        return [c.strip() for c in raw]

    def hours(self, table: Mapping[str, Any], key: str, default_tz: str) -> Hours | None:
        raw = self.table(table, "hours", required=False, key=key)
        if not raw:
            return None
        self.only_keys(raw, key, {"timezone", "open", "holidays", "after_hours"})
        tz = self.timezone(raw, f"{key}.timezone", default_tz)
        windows = self.windows(raw, f"{key}.open")
        if not windows:
            raise self.fail(f"{key}.open", "a line with hours needs at least one window",
                            'write open = ["mon-fri 08:00-18:00"], or remove [hours]')
        holidays_raw = raw.get("holidays", [])
        try:
            holidays = parse_holidays(holidays_raw if isinstance(holidays_raw, list) else [holidays_raw])
        except ScheduleError as exc:
            raise self.fail(f"{key}.holidays", str(exc),
                            'write holidays = ["2026-12-25", "2027-01-01"]') from None
        after = raw.get("after_hours", "on_call")
        if after not in ("on_call", "voicemail"):
            raise self.fail(f"{key}.after_hours", f"{after!r} is not a behaviour",
                            'write after_hours = "on_call" or "voicemail"')
        return Hours(tz=tz, open=windows, holidays=holidays, after_hours=after)

    def menu(self, table: Mapping[str, Any], key: str,
             responders: Mapping[str, Responder]) -> Menu | None:
        raw = self.table(table, "menu", required=False, key=key)
        if not raw:
            return None
        self.only_keys(raw, key, {"prompt", "options"})
        prompt = self.string(raw, f"{key}.prompt", "prompt")
        options_raw = self.table(raw, "options", required=True, key=f"{key}.options")
        if not options_raw:
            raise self.fail(f"{key}.options", "a menu needs at least one option",
                            f'add [{key}.options.1] with name and tiers')
        options = []
        for digit, option in options_raw.items():
            where = f"{key}.options.{digit}"
            if digit not in MENU_DIGITS or len(digit) != 1:
                raise self.fail(where, "an option is named by the key a caller presses",
                                "name it with one digit from 1 to 9, e.g. [...options.1]")
            option = self.table(options_raw, digit, required=True, key=where)
            self.only_keys(option, where, {"name", "tiers", "language"})
            options.append(MenuOption(digit=digit, name=self.string(option, f"{where}.name", "name"),
                                      tiers=self.tiers(option, f"{where}.tiers", responders),
                                      language=self.optional_string(option, f"{where}.language")))
        return Menu(prompt=prompt, options=tuple(sorted(options, key=lambda o: o.digit)))

    def text_back_key(self, table: Mapping[str, Any], key: str) -> str:
        """One key of the phone's keypad but # (which ends a recording), or ""."""
        value = table.get("text_back_key", "1")
        if not isinstance(value, str) or value not in TEXT_BACK_KEYS:
            raise self.fail(key, f"{value!r} is not one key a caller can press",
                            'use one of 0-9 or *, e.g. text_back_key = "1", or "" to offer'
                            " no text-back")
        return value

    def messages(self, table: Mapping[str, Any], key: str) -> dict[str, str]:
        overrides = self.table(table, "messages", required=False, key=key)
        self.only_keys(overrides, key, set(DEFAULT_MESSAGES))
        messages = dict(DEFAULT_MESSAGES)
        for name, source in overrides.items():
            if not isinstance(source, str) or not source.strip():
                raise self.fail(f"{key}.{name}", "must be a non-empty string",
                                f'write {name} = "..." (Jinja) or remove it for the default')
            allowed = (*COMMON_VARIABLES, *MESSAGE_VARIABLES[name])
            try:
                render_message(source, **{k: MESSAGE_SAMPLE[k] for k in allowed})
            except TemplateError as exc:
                variables = ", ".join(allowed)
                raise self.fail(f"{key}.{name}", f"the template does not render ({exc})",
                                f"use only these variables: {variables}") from None
            messages[name] = source
        return messages

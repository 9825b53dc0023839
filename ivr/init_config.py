"""`ivr init`: a starter config, from flags or, on a terminal, from
questions. It never replaces a file, and what it writes is checked by the
same parser `ivr serve` uses before it is written."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from .config import ConfigError, load_config
from .shown_command import config_argument, ivr_command
from .startup_checks import StartupError

STARTER = """\
# Written by `ivr init`. Every key is checked at start; `ivr check` shows what
# the service would do with it. The README's "Configuration" lists every key.

[service]
# SQLite file (a relative path is beside this config). IVR_DATABASE overrides.
database = {database}
timezone = {timezone}
{responders}
[lines.{line_id}]
name = {line_name}
# the Twilio number; a webhook's To picks the line
number = {line_number}
# tried in order; an element may be a list of responders rung at once
tiers = {tiers}
ring_seconds = 20                 # Dial timeout of each voice tier
ack_seconds = 120                 # time to reply ACK by SMS before the next tier is paged
"""

RESPONDER = """
[responders.{rid}]
name = {name}
phone = {phone}
"""


@dataclass
class Answers:
    line_name: str = ""
    line_number: str = ""
    responders: list[str] = field(default_factory=list)   # "NAME=PHONE"
    tiers: list[str] = field(default_factory=list)        # "ID[,ID…]", one per tier
    timezone: str = ""
    database: str = "ivr.sqlite3"


def identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "responder"
    rid, n = base, 2
    while rid in taken:
        rid, n = f"{base}{n}", n + 1
    return rid


def ask_missing(answers: Answers, ask: Callable[[str], str]) -> None:
    """Questions for what the flags left out (only on a terminal)."""
    answers.line_name = answers.line_name or ask("The line's name (what callers hear): ")
    answers.line_number = answers.line_number or ask("The line's Twilio number (+1...): ")
    asking = not answers.responders
    while asking:
        name = ask("A responder's name, in tier order (empty when done): ")
        if not name:
            break
        phone = ask(f"{name}'s phone (+1...): ")
        answers.responders.append(f"{name}={phone}")
        asking = ask("Another responder? [y/N] ").strip().lower() == "y"
    answers.timezone = answers.timezone or ask("Time zone [UTC]: ").strip() or "UTC"


def missing_flags(answers: Answers) -> list[str]:
    wanted = {"--line-name": answers.line_name, "--line-number": answers.line_number,
              "--responder": answers.responders}
    return [flag for flag, value in wanted.items() if not value]


def render(answers: Answers) -> str:
    quoted = json.dumps   # a JSON string is a TOML basic string
    taken: set[str] = set()
    blocks, ids = [], []
    for entry in answers.responders:
        name, sep, phone = entry.partition("=")
        if not sep or not name.strip() or not phone.strip():
            raise StartupError(f"--responder {entry!r} is not NAME=PHONE. "
                               f"Fix: e.g. --responder 'Sergio=+16195550101'")
        rid = identifier(name.strip(), taken)
        taken.add(rid)
        ids.append(rid)
        blocks.append(RESPONDER.format(rid=rid, name=quoted(name.strip()),
                                       phone=quoted(phone.strip())))
    tiers = [[t.strip() for t in tier.split(",") if t.strip()] for tier in answers.tiers]
    shown_tiers = [tier[0] if len(tier) == 1 else tier for tier in tiers] or ids
    return STARTER.format(timezone=quoted(answers.timezone or "UTC"),
                          database=quoted(answers.database or "ivr.sqlite3"),
                          responders="".join(blocks),
                          line_id=identifier(answers.line_name, set()),
                          line_name=quoted(answers.line_name),
                          line_number=quoted(answers.line_number),
                          tiers=json.dumps(shown_tiers))


def init(path: str, answers: Answers, interactive: bool, ask: Callable[[str], str],
         out: TextIO) -> int:
    target = Path(path)
    if target.exists():
        raise StartupError(f"{path} already exists; ivr init never replaces a file. "
                           f"Fix: pass another path, or move {path} away first")
    if interactive:
        ask_missing(answers, ask)
    missing = missing_flags(answers)
    if missing:
        raise StartupError(f"ivr init needs {', '.join(missing)} (no terminal to ask on). "
                           f"Fix: e.g. ivr init --line-name 'Quick Dump Now' --line-number "
                           f"+16195550100 --responder 'Sergio=+16195550101'")
    text = render(answers)
    _write_checked(target, text)
    out.write(f"wrote {path}: line {answers.line_name} ({answers.line_number}), "
              f"{len(answers.responders)} responder(s). Next: {ivr_command()} check "
              f"{config_argument(path)}, or try it in local mode: {ivr_command()} serve "
              f"{config_argument(path)}\n")
    return 0


def _write_checked(target: Path, text: str) -> None:
    """Written only if ivr would accept it; O_EXCL, so a file that appeared
    meanwhile is not replaced either."""
    target.parent.mkdir(parents=True, exist_ok=True)
    probe = target.with_name(f".{target.name}.ivr-init")
    probe.write_text(text, "utf-8")
    try:
        load_config(probe)
    except ConfigError as exc:
        raise StartupError(f"{exc.key}: {exc.problem}. Fix: {exc.fix} "
                           f"(nothing was written)") from None
    finally:
        probe.unlink(missing_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise StartupError(f"{target} already exists; ivr init never replaces a file. "
                           f"Fix: pass another path") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)

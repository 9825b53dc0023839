"""Blocked numbers as an operator sees and changes them (the dashboard and
`ivr block` / `unblock` / `blocked`): the config's blocklist beside the
store's, and a block added or lifted by hand, each a decision row naming
the operator. What a block does to a text or a call is in
conversations/blocking.py; a responder's BLOCK is there too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from .admin import _open_store  # the CLI's one way to open the store
from .clock import from_text
from .config import Config
from .decisions import Channel, DecisionKind, decision
from .phone import InvalidPhoneNumber, mask, normalise
from .shown_times import day_and_time, line_zone
from .startup_checks import StartupError
from .store import Tx
from .store.blocks import EVERY_LINE

OPERATOR = "operator"
REASON_MAX = 200     # a reason is a note, not a transcript
FROM_CLI = "with the ivr command"
FROM_DASHBOARD = "from the dashboard"


class BlockRefused(Exception):
    """A block or unblock that cannot be done; the message says why and the fix."""


@dataclass(frozen=True)
class ShownBlock:
    line_id: str                  # '*': every line
    number: str                   # E.164: never shown or logged whole
    blocked_by: str               # a responder id, 'operator', or 'the config'
    reason: str
    blocked_at: datetime | None   # None: in the config
    config_key: str | None = None  # '[lines.qdn] blocked': lifted only by editing the config

    @property
    def masked(self) -> str:
        return mask(self.number)


def typed_number(typed: str) -> str:
    """What an operator typed, as E.164."""
    try:
        return normalise(typed.strip())
    except InvalidPhoneNumber as exc:
        raise BlockRefused(f"{exc}. Fix: write the whole number, like +16195550142") from None


def typed_line(config: Config, line_id: str | None) -> str:
    """A line id as typed ('*' for none: every line), checked against the config."""
    if not line_id or line_id == EVERY_LINE:
        return EVERY_LINE
    if line_id not in config.lines:
        raise BlockRefused(f"{line_id!r} is not a line in {config.path}. Fix: use one of: "
                           f"{', '.join(config.lines)} (or none, for every line)")
    return line_id


def where(config: Config, line_id: str) -> str:
    if line_id == EVERY_LINE:
        return "every line"
    line = config.lines.get(line_id)
    return f"{line.code} ({line_id})" if line else line_id


def config_blocks(config: Config) -> list[ShownBlock]:
    """The config's blocklist: `[service] blocked` once, on every line, then
    each line's own."""
    lines = list(config.lines.values())
    service = lines[0].policy.service_blocked if lines else frozenset()
    rows = [ShownBlock(EVERY_LINE, n, "the config", "", None, "[service] blocked")
            for n in sorted(service)]
    for line in lines:
        rows += [ShownBlock(line.id, n, "the config", "", None, f"[lines.{line.id}] blocked")
                 for n in sorted(line.policy.line_blocked)]
    return rows


def all_blocks(tx: Tx, config: Config) -> list[ShownBlock]:
    """Every block: the config's, then the store's, newest first."""
    stored = [ShownBlock(b.line_id, b.number, b.blocked_by, b.reason, from_text(b.blocked_at))
              for b in tx.blocked_numbers()]
    return config_blocks(config) + stored


def _config_keys(config: Config, line_id: str | None, number: str) -> list[str]:
    """The config keys that block `number` on the line (None: on any line;
    '*': on every line)."""
    return [b.config_key or "" for b in config_blocks(config) if b.number == number
            and (line_id is None or b.line_id in (line_id, EVERY_LINE))]


def _not_to_block(config: Config, number: str) -> str | None:
    """Why a number must not be blocked: a line's own, or a responder's phone."""
    for line in config.lines.values():
        if line.number == number:
            return f"is the number of line {line.id} (lines.{line.id}.number)"
    for responder in config.responders.values():
        if responder.phone == number:
            return f"is {responder.name}'s phone (responders.{responder.id}.phone)"
    return None


def operator_block(tx: Tx, config: Config, number: str, line_id: str, reason: str,
                   via: str, operator: str = OPERATOR) -> bool:
    """Block `number` on a line ('*': every line), logged; False if the store
    already blocked it there."""
    problem = _not_to_block(config, number)
    if problem:
        raise BlockRefused(f"{mask(number)} {problem}, which cannot be blocked. Fix: give "
                           "a customer's number")
    keys = _config_keys(config, line_id, number)
    if keys:
        raise BlockRefused(f"{mask(number)} is already blocked in {' and '.join(keys)} of "
                           f"{config.path}. Fix: nothing to do")
    reason = " ".join(reason.split())[:REASON_MAX]
    if not tx.block(line_id, number, operator, reason or f"blocked {via}"):
        return False
    tx.decide(decision(DecisionKind.NUMBER_BLOCKED, Channel.SMS,
                       f"{operator} blocked {mask(number)} on {where(config, line_id)} {via}"
                       + (f": {reason}" if reason else ""),
                       line=None if line_id == EVERY_LINE else line_id))
    return True


@dataclass(frozen=True)
class Unblocked:
    lifted: list[str]            # the line ids ('*' too) whose stored block was lifted
    still_in_config: list[str]   # the config keys that block it still


def operator_unblock(tx: Tx, config: Config, number: str, line_id: str | None, via: str,
                     operator: str = OPERATOR) -> Unblocked:
    """Lift the store's blocks of `number`: on one line ('*' is a block on
    every line), or all of them (None). Each is logged. A block in the
    config is lifted only by editing the config: refused, with the key."""
    stored = [b for b in tx.blocked_numbers() if b.number == number]
    chosen = [b for b in stored if line_id is None or b.line_id == line_id]
    in_config = _config_keys(config, line_id, number)
    if not chosen:
        if in_config:
            raise BlockRefused(
                f"{mask(number)} is blocked in the config, so it cannot be unblocked here. "
                f"Fix: remove it from {' and '.join(in_config)} in {config.path}, then "
                "restart the service")
        if any(b.line_id == EVERY_LINE for b in stored):
            raise BlockRefused(f"{mask(number)} is blocked on every line, not on "
                               f"{line_id} alone. Fix: unblock it on every line (no --line)")
        raise BlockRefused(f"{mask(number)} is not blocked"
                           + (f" on {line_id}" if line_id else "")
                           + ". Fix: see the blocked numbers with `ivr blocked` or on the "
                             "dashboard")
    for block in chosen:
        tx.unblock(block.line_id, number)
        still = f"; still blocked by {' and '.join(in_config)}" if in_config else ""
        tx.decide(decision(
            DecisionKind.NUMBER_UNBLOCKED, Channel.SMS,
            f"{operator} unblocked {mask(number)} on {where(config, block.line_id)} {via} "
            f"(blocked by {block.blocked_by}){still}",
            line=None if block.line_id == EVERY_LINE else block.line_id))
    return Unblocked([b.line_id for b in chosen], in_config)


# -- ivr block / unblock / blocked ------------------------------------------------------

def _refused(exc: BlockRefused) -> StartupError:
    # The CLI prints a StartupError as one line on stderr, exit 2.
    return StartupError(str(exc))


async def block_command(config: Config, typed: str, line: str | None, reason: str,
                        out: TextIO) -> int:
    try:
        number, line_id = typed_number(typed), typed_line(config, line)
    except BlockRefused as exc:
        raise _refused(exc) from None
    store = await _open_store(config)
    try:
        added = await store.write(lambda tx: operator_block(
            tx, config, number, line_id, reason or "", FROM_CLI))
    except BlockRefused as exc:
        raise _refused(exc) from None
    finally:
        await store.close()
    state = "blocked" if added else "was already blocked"
    out.write(f"{mask(number)} {state} on {where(config, line_id)}\n")
    return 0


def shown_number(blocks: list[ShownBlock], typed: str) -> str:
    """The blocked number `ivr blocked` showed as `typed` (+1619***0142):
    the list shows numbers masked, and the one to unblock is then only
    known by its mask."""
    found = {b.number for b in blocks if b.masked == typed.strip()}
    if len(found) != 1:
        problem = "no blocked number" if not found else f"{len(found)} blocked numbers"
        raise BlockRefused(f"{typed.strip()} matches {problem}. Fix: give the whole number")
    return found.pop()


async def unblock_command(config: Config, typed: str, line: str | None, out: TextIO) -> int:
    try:
        number = None if "***" in typed else typed_number(typed)
        line_id = typed_line(config, line) if line else None
    except BlockRefused as exc:
        raise _refused(exc) from None
    store = await _open_store(config)

    def unblock(tx: Tx) -> tuple[str, Unblocked]:
        whole = number or shown_number(all_blocks(tx, config), typed)
        return whole, operator_unblock(tx, config, whole, line_id, FROM_CLI)

    try:
        number, done = await store.write(unblock)
    except BlockRefused as exc:
        raise _refused(exc) from None
    finally:
        await store.close()
    lines = ", ".join(where(config, lid) for lid in done.lifted)
    out.write(f"{mask(number)} unblocked on {lines}\n")
    if done.still_in_config:
        out.write(f"It is still blocked by {' and '.join(done.still_in_config)} in "
                  f"{config.path}: remove it there, then restart the service\n")
    return 0


async def blocked_command(config: Config, out: TextIO) -> int:
    store = await _open_store(config)
    try:
        rows = await store.read(lambda tx: all_blocks(tx, config))
    finally:
        await store.close()
    if not rows:
        out.write("No blocked numbers.\n")
    for b in rows:
        if b.config_key:
            how = f"in the config: {b.config_key}"
        else:
            assert b.blocked_at is not None   # a stored block has its time
            when = day_and_time(b.blocked_at, line_zone(config, b.line_id))
            how = f"by {b.blocked_by}, {when}" + (f": {b.reason}" if b.reason else "")
        out.write(f"{mask(b.number):14} {where(config, b.line_id):12} {how}\n")
    return 0

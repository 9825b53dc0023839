"""What scenario tests about hours and zones share: the clock set to a
line's local time, what a number was sent, the decisions of one kind, and
a config with a Los Angeles line and a New York one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ivr.config import Config, parse_config
from ivr.schedule import zone

from .harness import BACKUP, LINE, SERGIO, Harness

LA = zone("America/Los_Angeles")
NY_LINE = "+16195550200"


def at_local(harness: Harness, text: str) -> None:
    """Set the clock to `text`, read as Los Angeles wall time."""
    harness.clock.set(datetime.fromisoformat(text).replace(tzinfo=LA))


async def pages(harness: Harness, number: str) -> list[str]:
    """Deliver the outbox; every body `number` has been sent so far."""
    await harness.deliver_outbox()
    return [m.body for m in harness.fake.messages_to(number)]


async def of_kind(harness: Harness, kind: str):
    return [d for d in await harness.decisions() if d.kind == kind]


def two_zone_config(tmp_path: Path) -> Config:
    """qdn: LA hours, nobody with on-call windows (the default after_hours =
    "on_call"); venue: no hours, so the service's zone (New York)."""
    return parse_config({
        "service": {"database": str(tmp_path / "ivr.sqlite3"), "timezone": "America/New_York"},
        "responders": {"sergio": {"name": "Sergio", "phone": SERGIO},
                       "backup": {"name": "Backup", "phone": BACKUP,
                                  "on_duty": ["mon-fri 08:00-18:00"],
                                  "timezone": "America/Los_Angeles"}},
        "lines": {
            "qdn": {"name": "Quick Dump Now", "number": LINE, "code": "QDN",
                    "tiers": ["sergio", "backup"],
                    "hours": {"open": ["mon-fri 08:00-18:00"], "timezone": "America/Los_Angeles"}},
            "venue": {"name": "The Venue", "number": NY_LINE, "code": "VEN", "tiers": ["sergio"]},
        },
    }, tmp_path / "ivr.toml")

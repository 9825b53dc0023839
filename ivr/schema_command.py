"""`ivr db status` and `ivr db upgrade`: the database's schema version, and
the steps (ivr/store/migrations.py) that bring it to this ivr's. `ivr serve`
applies them too, as it opens the database; these say what happens first."""

from __future__ import annotations

from typing import TextIO

from .clock import SystemClock
from .config import Config
from .startup_checks import StartupError, database_error, database_source
from .store import store_for
from .store.dialect import shown_database
from .store.migrations import LATEST, STEPS, SchemaTooNew, too_new_message
from .store.read_only import Unreadable, read_only


def recorded_version(config: Config) -> int | None:
    """The recorded version; 0 for tables from before versions; None: no database."""
    try:
        return read_only(config.database, SystemClock().now(),
                         lambda tx: tx.found_schema_version())
    except Unreadable as exc:
        raise StartupError(database_error(config, str(exc), database_source(config),
                                          problem="cannot be read")) from None


def status(config: Config, out: TextIO) -> int:
    shown = shown_database(config.database)
    version = recorded_version(config)
    if version is None:
        out.write(f"database {shown}: no ivr tables yet; `ivr db upgrade` (or the first "
                  f"`ivr serve`) creates them at schema version {LATEST}\n")
        return 0
    if version > LATEST:
        raise StartupError(too_new_message(version, shown))
    out.write(f"database {shown}: schema version {version}; this ivr knows {LATEST}\n")
    for step in STEPS:
        if step.version > version:
            out.write(f"  to apply: {step.version}  {step.description}\n")
    return 0


async def upgrade(config: Config, out: TextIO) -> int:
    shown = shown_database(config.database)
    store = store_for(config.database, SystemClock())
    try:
        await store.open()
    except SchemaTooNew as exc:
        raise StartupError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - whatever it is, say it in one line
        raise StartupError(database_error(config, " ".join(str(exc).split())[:300],
                                          database_source(config),
                                          problem="cannot be upgraded")) from None
    try:
        if not store.upgraded:
            out.write(f"database {shown}: already at schema version {LATEST}\n")
        for step in store.upgraded:
            out.write(f"database {shown}: applied {step.version}  {step.description}\n")
    finally:
        await store.close()
    return 0

"""`ivr reset-local`: local mode from an empty database. Local mode keeps
its SQLite database between starts, so a walkthrough run a second time
finds conversation #1 still open; this starts over. The old database is
kept, copied whole to a file named for the moment, so nothing is lost."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import TextIO

from .config import Config
from .local_mode import local_state_path
from .secrets import Secrets
from .startup_checks import StartupError
from .store.dialect import is_postgres_url

SIDE_FILES = ("-wal", "-shm", ".write-lock")


def reset_local(config: Config, secrets: Secrets, out: TextIO,
                now: datetime | None = None) -> int:
    if not secrets.local:
        raise StartupError("reset-local is for local mode only, and a Twilio account is set "
                           "(TWILIO_AUTH_TOKEN). Fix: unset the TWILIO_* variables, or use "
                           "`ivr backup` and your own care on a real line's database")
    if is_postgres_url(config.database):
        raise StartupError("reset-local empties an SQLite database; this config uses "
                           "PostgreSQL. Fix: drop and create the database "
                           "(dropdb; createdb -O ivr ivr)")
    state = local_state_path(config)
    running = _running_at(state)
    if running:
        raise StartupError(f"the service still runs at {running}. Fix: stop it "
                           f"(Ctrl-C in its terminal), then run reset-local again")
    database = Path(config.database)
    if not database.exists():
        out.write(f"{database} does not exist yet: the next start begins empty anyway\n")
        return 0
    kept = database.with_name(f"{database.stem}-before-reset-"
                              f"{(now or datetime.now()):%Y%m%dT%H%M%S}{database.suffix}")
    _copy(database, kept)
    for name in [str(database), *(str(database) + side for side in SIDE_FILES)]:
        Path(name).unlink(missing_ok=True)
    state.unlink(missing_ok=True)
    out.write(f"emptied {database} (the old one is kept as {kept}); the next start of local "
              f"mode begins with no conversations\n")
    return 0


def _copy(database: Path, kept: Path) -> None:
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(kept)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        kept.unlink(missing_ok=True)
        raise StartupError(f"{database} could not be copied before emptying it ({exc}); "
                           f"nothing was changed. Fix: check it is ivr's database and "
                           f"readable") from None


def _running_at(state: Path) -> str | None:
    """The address local mode saved, if a service answers there."""
    try:
        url = json.loads(state.read_text("utf-8"))["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/healthz", timeout=2):
            return url
    except urllib.error.HTTPError:
        return url            # it answered, if unhappily
    except (OSError, ValueError):
        return None

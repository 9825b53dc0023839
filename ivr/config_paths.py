"""One rule for every path a config names (the database, calendars): a
relative path is found in the config file's folder, whatever folder ivr was
started in, so `ivr log --config other/dir/ivr.toml` reads the database the
service at other/dir writes. A path from the environment (IVR_DATABASE) is
the operator's shell talking and stays relative to the working directory."""

from __future__ import annotations

from pathlib import Path

# SQLite's name for a database kept in memory, which has no folder.
IN_MEMORY = ":memory:"


def beside_config(config_path: str | Path, value: str) -> str:
    """`value` as the service opens it: URLs, absolute paths and SQLite's
    in-memory name as written, anything else joined to the config's folder."""
    if "://" in value or value == IN_MEMORY or Path(value).is_absolute():
        return value
    return str(Path(config_path).parent / value)

"""What the service writes beside its database never ends up in a commit:
local mode's token file holds the development auth token and the operator
password, and `git add .` in a checkout where the service ran must not pick
it up (nor the database and its write-ahead log)."""

import shutil
import subprocess

import pytest

from ivr.config import load_config
from ivr.server import local_state_path

from .support.harness import EXAMPLE_CONFIG, REPO

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(),
    reason="needs git and a git checkout")


def ignored(path: str) -> bool:
    """git check-ignore on the path's name alone: the file need not exist,
    and the index is not consulted, so this tests the ignore rules."""
    result = subprocess.run(["git", "check-ignore", "--no-index", "--quiet", path], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def local_files(database: str) -> list[str]:
    config = load_config(EXAMPLE_CONFIG, database_override=database)
    token_file = local_state_path(config)
    return [str(token_file), database, database + "-wal", database + "-shm"]


@pytest.mark.parametrize("database", ["ivr.sqlite3", "var/lib/ivr/ivr.sqlite3"])
def test_local_modes_token_file_the_database_and_its_log_are_ignored(database):
    files = local_files(database)
    assert files[0].endswith(".sqlite3.local.json")   # where local mode writes it
    assert [f for f in files if not ignored(f)] == []


def test_the_token_file_is_ignored_whatever_the_database_is_called():
    config = load_config(EXAMPLE_CONFIG, database_override="data/line.db")
    assert ignored(str(local_state_path(config)))


def test_source_files_are_not_ignored():
    assert not ignored("ivr/server.py")
    assert not ignored("examples/ivr.toml")

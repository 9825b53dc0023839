"""Paths a config names are found in the config file's folder, whatever
folder ivr starts in; IVR_DATABASE stays as the operator's shell gave it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.config import load_config
from ivr.local_mode import local_state_path
from ivr.server import load_everything

from .support.harness import EXAMPLE_CONFIG, REPO
from .support.processes import clean_environ

CONFIG = EXAMPLE_CONFIG.read_text()


def config_in(folder: Path, database: str = "ivr.sqlite3", calendars: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = CONFIG.replace('database = "ivr.sqlite3"', f'database = "{database}"', 1)
    if calendars:
        text = text.replace("# calendars = [\"oncall.ics\"]", f"calendars = [\"{calendars}\"]", 1)
    path = folder / "ivr.toml"
    path.write_text(text)
    return path


def test_the_database_and_calendars_are_found_beside_the_config(tmp_path, monkeypatch):
    path = config_in(tmp_path / "etc" / "ivr", "data/ivr.sqlite3", calendars="oncall.ics")
    monkeypatch.chdir(tmp_path)
    config = load_config("etc/ivr/ivr.toml")
    assert config.database == str(Path("etc/ivr/data/ivr.sqlite3"))
    assert config.calendars == (str(Path("etc/ivr/oncall.ics")),)
    assert Path(config.database).parent.parent == path.parent.relative_to(tmp_path)


@pytest.mark.parametrize("written", ["/var/lib/ivr/ivr.sqlite3", ":memory:",
                                     "postgresql://ivr@db.internal:5432/ivr"])
def test_absolute_paths_urls_and_memory_stay_as_written(tmp_path, written):
    assert load_config(config_in(tmp_path / "conf", written)).database == written


def test_a_config_in_the_working_folder_keeps_the_name_it_had(tmp_path, monkeypatch):
    config_in(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert load_config("ivr.toml").database == "ivr.sqlite3"


def test_ivr_database_from_the_environment_stays_relative_to_the_working_folder(tmp_path):
    path = config_in(tmp_path / "conf")
    config, _ = load_everything(str(path), {"IVR_DATABASE": "here.sqlite3"})
    assert config.database == "here.sqlite3"


def test_local_modes_token_for_postgresql_is_kept_beside_the_config(tmp_path):
    config = load_config(config_in(tmp_path / "conf", "postgresql://ivr@db:5432/ivr"))
    assert local_state_path(config) == tmp_path / "conf" / "ivr.local.json"


def ivr(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = clean_environ(PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "ivr", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_commands_run_from_another_folder_read_the_database_the_config_names(tmp_path):
    """The issue's case: `ivr log --config other/dir/ivr.toml` looked for the
    database in the working folder, found none and showed nothing."""
    path = config_in(tmp_path / "other" / "dir")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = ivr("db", "upgrade", "--config", str(path), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (path.parent / "ivr.sqlite3").is_file()
    status = ivr("db", "status", "--config", "../other/dir/ivr.toml", cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    assert "schema version" in status.stdout and "no ivr tables yet" not in status.stdout
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "ivr.sqlite3").exists()

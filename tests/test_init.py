"""`ivr init`, `ivr --version`, `ivr reset-local` and local mode's banner,
whose commands must run as printed, from another folder."""

from __future__ import annotations

import asyncio
import io
import shlex
import subprocess
import sys
from pathlib import Path

from ivr import __version__
from ivr.config import load_config
from ivr.init_config import Answers, init

from .support.cli import run
from .support.harness import REPO
from .support.processes import clean_environ, free_port, stop, wait_until_healthy

FLAGS = ("--line-name", "Quick Dump Now", "--line-number", "+16195550100",
         "--responder", "Sergio=+16195550101", "--responder", "Ana Lee=(858) 555-0199")


def ivr(*argv: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ivr", *argv], cwd=cwd, input=stdin,
                          env=clean_environ(PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, timeout=120)


def test_version_names_the_installed_version(tmp_path):
    shown = ivr("--version", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout == f"ivr {__version__}\n"


def test_init_from_flags_writes_a_config_ivr_accepts(tmp_path):
    written = ivr("init", "conf/ivr.toml", *FLAGS, "--tier", "sergio",
                  "--tier", "sergio,ana_lee", "--timezone", "America/Los_Angeles", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    config = load_config(tmp_path / "conf" / "ivr.toml")
    (line,) = config.lines.values()
    assert (line.name, line.number) == ("Quick Dump Now", "+16195550100")
    assert [config.responders[r].phone for r in ("sergio", "ana_lee")] == [
        "+16195550101", "+18585550199"]
    assert line.tiers == (("sergio",), ("sergio", "ana_lee"))
    assert config.database == str(tmp_path / "conf" / "ivr.sqlite3")
    assert "check --config" in written.stdout


def test_each_responder_is_a_tier_of_their_own_by_default(tmp_path):
    assert ivr("init", *FLAGS, cwd=tmp_path).returncode == 0
    (line,) = load_config(tmp_path / "ivr.toml").lines.values()
    assert line.tiers == (("sergio",), ("ana_lee",))


def test_init_never_replaces_a_file(tmp_path):
    (tmp_path / "ivr.toml").write_text("# mine\n")
    refused = ivr("init", *FLAGS, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "already exists" in refused.stderr
    assert (tmp_path / "ivr.toml").read_text() == "# mine\n"


def test_init_without_a_terminal_names_the_flags_it_needs(tmp_path):
    refused = ivr("init", "--line-name", "Quick Dump Now", cwd=tmp_path)
    assert refused.returncode == 2
    assert "--line-number, --responder" in refused.stderr and "Fix:" in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_bad_number_is_named_and_nothing_is_written(tmp_path):
    refused = ivr("init", "--line-name", "Q", "--line-number", "12",
                  "--responder", "Sergio=+16195550101", cwd=tmp_path)
    assert refused.returncode == 2
    assert "'12' is not a valid phone number" in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_asks_on_a_terminal_for_what_the_flags_left_out(tmp_path):
    answers = iter(["Quick Dump Now", "+16195550100", "Sergio", "+16195550101", "y",
                    "Backup", "+18585550199", "n", ""])
    out = io.StringIO()
    assert init(str(tmp_path / "ivr.toml"), Answers(), True, lambda _: next(answers), out) == 0
    config = load_config(tmp_path / "ivr.toml")
    assert [r.name for r in config.responders.values()] == ["Sergio", "Backup"]
    assert next(iter(config.lines.values())).tiers == (("sergio",), ("backup",))


def test_reset_local_refuses_a_real_account_and_leaves_its_database(tmp_path, monkeypatch):
    assert ivr("init", *FLAGS, cwd=tmp_path).returncode == 0
    (tmp_path / "ivr.sqlite3").write_bytes(b"")
    for name, value in (("TWILIO_AUTH_TOKEN", "a" * 32), ("TWILIO_ACCOUNT_SID", "AC" + "0" * 32),
                        ("IVR_PUBLIC_BASE_URL", "https://ivr.example.com")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("IVR_DATABASE", raising=False)
    code, _, err = run("reset-local", "--config", str(tmp_path / "ivr.toml"))
    assert code == 2 and "local mode only" in err
    assert (tmp_path / "ivr.sqlite3").exists()


# -- the walkthrough, run twice ---------------------------------------------------------

def start_local(config: Path, port: int, log: Path) -> subprocess.Popen:
    with open(log, "w") as handle:
        return subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config", str(config),
                                 "--bind", f"127.0.0.1:{port}"], cwd=config.parent,
                                env=clean_environ(), stdout=handle, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)


def printed_commands(log: Path) -> list[str]:
    return [line.strip() for line in log.read_text().splitlines()
            if " simulate " in line or " reset-local " in line]


def as_printed(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """The banner's command pasted into a shell elsewhere, without PYTHONPATH."""
    return subprocess.run(shlex.split(command), cwd=cwd, env=clean_environ(),
                          capture_output=True, text=True, timeout=120)


async def test_the_walkthrough_runs_as_printed_and_again_after_reset_local(tmp_path):
    config = tmp_path / "line" / "ivr.toml"
    assert ivr("init", str(config), *FLAGS, cwd=tmp_path).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    first_log = tmp_path / "first.log"
    process = start_local(config, port, first_log)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
        text, ack, _ = printed_commands(first_log)
        assert "reply shortly" in as_printed(text, elsewhere).stdout
        again = as_printed(text, elsewhere).stdout
        assert "conversation #1 open" in again and "reset-local" in again
    finally:
        stop(process)
    second_log = tmp_path / "second.log"
    process = start_local(config, port, second_log)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
        *_, reset = printed_commands(second_log)
        refused = as_printed(reset, elsewhere)
        assert refused.returncode == 2 and "still runs" in refused.stderr
    finally:
        stop(process)
    emptied = as_printed(reset, elsewhere)
    assert emptied.returncode == 0, emptied.stderr
    assert len(list(config.parent.glob("ivr-before-reset-*.sqlite3"))) == 1
    process = start_local(config, port, tmp_path / "third.log")
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
        assert "reply shortly" in as_printed(text, elsewhere).stdout
        assert "reset-local" not in (tmp_path / "third.log").read_text()
    finally:
        stop(process)
    await asyncio.sleep(0)


def test_printed_commands_name_ivr_only_when_it_is_this_install(monkeypatch, tmp_path):
    from ivr.shown_command import ivr_command
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ivr_command() == f"{sys.executable} -m ivr"
    other = tmp_path / "ivr"   # another ivr on the PATH, not this one
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert ivr_command() == f"{sys.executable} -m ivr"
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    if (Path(sys.executable).parent / "ivr").exists():
        assert ivr_command() == "ivr"

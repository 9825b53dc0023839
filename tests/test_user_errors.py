"""Mistakes an operator can make, met by the real `ivr` command: an exit code,
one message naming the file or key and the fix, and never a traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.clock import FrozenClock
from ivr.decisions import Channel, Decision, DecisionKind
from ivr.store import Store

from .support.fake_twilio import ACCOUNT_SID
from .support.harness import AUTH_TOKEN, EXAMPLE_CONFIG, LINE
from .support.processes import clean_environ, free_port

IVR = Path(sys.executable).with_name("ivr")
COMMAND = [str(IVR)] if IVR.exists() else [sys.executable, "-m", "ivr"]


def ivr(*args: str, env: dict[str, str], cwd, timeout: float = 60,
        **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def assert_clear(result: subprocess.CompletedProcess, *wanted: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("ivr: ") and "Fix:" in result.stderr, result.stderr
    for text in wanted:
        assert text in result.stderr, (text, result.stderr)


# -- B1: a database that cannot be created or written ----------------------------------

def unusable_databases(tmp_path) -> dict[str, Path]:
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "not-a-db.sqlite3").write_text("these are not SQLite's bytes\n" * 10)
    (tmp_path / "a-directory").mkdir()
    return {"under a file": tmp_path / "a-file" / "ivr.sqlite3",
            "a directory": tmp_path / "a-directory",
            "not a database": tmp_path / "not-a-db.sqlite3"}


@pytest.mark.parametrize("case", ["under a file", "a directory", "not a database"])
@pytest.mark.parametrize("command", [["check"], ["serve", "--bind"]])
def test_a_database_that_cannot_be_written_is_named_by_check_and_serve(tmp_path, case, command):
    database = unusable_databases(tmp_path)[case]
    if command[-1] == "--bind":
        command = [*command, f"127.0.0.1:{free_port()}"]
    env = clean_environ(IVR_DATABASE=str(database))
    result = ivr(*command, "--config", str(EXAMPLE_CONFIG), env=env, cwd=tmp_path, timeout=30)
    assert_clear(result, f"the database {database} (from IVR_DATABASE) cannot be created or "
                         f"written", "IVR_DATABASE", "[service] database")
    assert "LOCAL MODE" not in result.stdout


def test_the_config_key_is_named_when_it_set_the_database(tmp_path):
    (tmp_path / "a-file").write_text("")
    config = tmp_path / "ivr.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace(
        'database = "ivr.sqlite3"', f'database = "{tmp_path}/a-file/ivr.sqlite3"'))
    result = ivr("check", "--config", str(config), env=clean_environ(), cwd=tmp_path)
    assert_clear(result, f"(from [service] database in {config})")


# -- B2: a reader that goes away -------------------------------------------------------

async def decisions(path: Path, count: int) -> None:
    store = Store(str(path), FrozenClock())
    await store.open()
    try:
        await store.write(lambda tx: [tx.decide(Decision(
            DecisionKind.UNKNOWN_LINE, Channel.SMS, f"decision number {i} " + "x" * 60))
            for i in range(count)])
    finally:
        await store.close()


@pytest.mark.parametrize("command", [["log", "--limit", "5000"], ["log"], ["check"],
                                     ["conversations"], ["hash-password"]])
def test_a_closed_stdout_ends_quietly(tmp_path, command):
    database = tmp_path / "ivr.sqlite3"
    asyncio.run(decisions(database, 3000))
    env = clean_environ(IVR_DATABASE=str(database), IVR_CONFIG=str(EXAMPLE_CONFIG))
    process = subprocess.Popen([*COMMAND, *command], env=env, cwd=tmp_path,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    if command[:2] == ["log", "--limit"]:
        assert process.stdout.readline()     # `| head -1`: one line read, then closed
    process.stdout.close()
    process.stdin.write("a long enough password\n")
    process.stdin.close()
    err = process.stderr.read()
    code = process.wait(30)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert err == "", err
    assert code in (0, 141), code


# -- B3: a misspelt key in the env file -----------------------------------------------

def test_a_misspelt_env_file_key_is_named_with_the_closest_known_one(tmp_path):
    env_file = tmp_path / "ivr.env"
    env_file.write_text(f"TWILIO_ACCOUNT_SID={ACCOUNT_SID}\nTWILIO_AUTH_TOKN={AUTH_TOKEN}\n"
                        "IVR_PUBLIC_BASE_URL=https://ivr.example.com\n")
    env_file.chmod(0o600)
    env = clean_environ(IVR_ENV_FILE=str(env_file), IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    for command in (["check"], ["serve", "--bind", f"127.0.0.1:{free_port()}"]):
        result = ivr(*command, "--config", str(EXAMPLE_CONFIG), env=env, cwd=tmp_path)
        assert_clear(result, f"{env_file}: line 2: TWILIO_AUTH_TOKN", 
                     "did you mean TWILIO_AUTH_TOKEN?")
        assert "is not set" not in result.stderr
        assert AUTH_TOKEN not in result.stderr + result.stdout


def test_an_env_file_line_that_may_be_a_secret_is_named_by_number_only(tmp_path):
    env_file = tmp_path / "ivr.env"
    env_file.write_text("c2VjcmV0dmFsdWU=\n")
    env_file.chmod(0o600)
    result = ivr("check", "--config", str(EXAMPLE_CONFIG),
                 env=clean_environ(IVR_ENV_FILE=str(env_file)), cwd=tmp_path)
    assert_clear(result, f"{env_file}: line 1:")
    assert "c2VjcmV0dmFsdWU" not in result.stderr


def test_an_env_file_setting_read_only_from_the_environment_is_refused(tmp_path):
    env_file = tmp_path / "ivr.env"
    env_file.write_text("IVR_DATABASE=/var/lib/ivr/ivr.sqlite3\n")
    env_file.chmod(0o600)
    result = ivr("check", "--config", str(EXAMPLE_CONFIG),
                 env=clean_environ(IVR_ENV_FILE=str(env_file)), cwd=tmp_path)
    assert_clear(result, f"{env_file}: IVR_DATABASE is read from the environment")


# -- B4: Twilio out of reach is not a credentials problem --------------------------------

def configure_env(api_base: str, token: str = AUTH_TOKEN) -> dict[str, str]:
    return clean_environ(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=token,
                         TWILIO_API_BASE=api_base, IVR_PUBLIC_BASE_URL="https://ivr.example.com")


def test_twilio_configure_says_twilio_could_not_be_reached(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"     # nothing listens there
    result = ivr("twilio", "configure", "--config", str(EXAMPLE_CONFIG),
                 env=configure_env(closed), cwd=tmp_path)
    assert_clear(result, f"Twilio could not be reached at {closed}", "network")
    assert "TWILIO_AUTH_TOKEN" not in result.stderr and "credentials" not in result.stderr


def test_twilio_configure_says_the_credentials_were_refused(tmp_path, fake_twilio_sync):
    fake, url = fake_twilio_sync
    fake.add_number(LINE)
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN
    result = ivr("twilio", "configure", "--config", str(EXAMPLE_CONFIG),
                 env=configure_env(url, token="a-wrong-token-0123456789"), cwd=tmp_path)
    assert_clear(result, "Twilio refused the credentials", "HTTP 401",
                 "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    assert "could not be reached" not in result.stderr
    assert fake.unexpected and all("bad credentials" in u for u in fake.unexpected)
    fake.unexpected.clear()     # the refusal was the point


# -- B5: check says what serve would do ---------------------------------------------------

def test_check_says_local_mode_turns_the_dashboard_on_as_serve_does(tmp_path):
    env = clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    result = ivr("check", "--config", str(EXAMPLE_CONFIG), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dashboard: on (LOCAL MODE" in result.stdout
    assert "dashboard: off" not in result.stdout


def test_check_refuses_what_serve_refuses(tmp_path):
    env = clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3"), IVR_LOG_LEVEL="LOUD")
    for command in (["check"], ["serve", "--bind", f"127.0.0.1:{free_port()}"]):
        result = ivr(*command, "--config", str(EXAMPLE_CONFIG), env=env, cwd=tmp_path)
        assert_clear(result, "IVR_LOG_LEVEL='LOUD'")
    env = clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3"), IVR_BIND="127.0.0.1:99999")
    for command in (["check"], ["serve"]):
        result = ivr(*command, "--config", str(EXAMPLE_CONFIG), env=env, cwd=tmp_path)
        assert_clear(result, "IVR_BIND '127.0.0.1:99999'")

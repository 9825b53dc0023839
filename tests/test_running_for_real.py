"""The README's "Running it for real", followed as printed as far as a
machine without Twilio can: `ivr --version`, `ivr init`, the env file,
`ivr check` printing the webhook URLs and `ivr twilio configure --dry-run`
(then without it) against the fake Twilio. Only the machine's folders are
moved under the test's own: /etc/ivr, /var/lib/ivr and /opt/ivr."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

from .support.fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET
from .support.harness import AUTH_TOKEN, LINE, REPO
from .support.processes import clean_environ

IVR = "/opt/ivr/bin/ivr"


def section(title: str) -> str:
    text = (REPO / "README.md").read_text("utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, indented in a list item or not."""
    found = re.findall(r"^([ \t]*)```(\w+)\n(.*?)^\1```", text, re.M | re.S)
    return [(language, textwrap.dedent(body)) for _, language, body in found]


def ivr_commands(text: str) -> list[str]:
    return [line for language, body in code_blocks(text) if language == "sh"
            for line in body.splitlines() if f"{IVR} " in line]


def as_here(command: str, root: Path) -> tuple[list[str], dict[str, str]]:
    """The command with the machine's folders under `root`, `sudo -u ivr env
    NAME=VALUE` turned into environment, and /opt/ivr/bin/ivr into this
    checkout's ivr."""
    for machine in ("/etc/ivr", "/var/lib/ivr"):
        command = command.replace(machine, str(root) + machine)
    words = shlex.split(command)
    at = words.index(IVR)
    env = dict(w.split("=", 1) for w in words[:at] if "=" in w)
    return [sys.executable, "-m", "ivr", *words[at + 1:]], env


def run(command: str, root: Path) -> subprocess.CompletedProcess:
    argv, env = as_here(command, root)
    return subprocess.run(argv, cwd=root, env=clean_environ(**env), capture_output=True,
                          text=True, timeout=120)


def env_file(text: str, root: Path, fake_url: str) -> Path:
    """The README's env file with this test's credentials in place of the
    placeholders, and the fake Twilio as the REST API."""
    [body] = [body for language, body in code_blocks(text) if language == "ini"]
    ours = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_KEY": API_KEY, "TWILIO_API_SECRET": API_SECRET}
    lines = []
    for line in body.splitlines():
        key, _, value = line.partition("=")
        lines.append(f"{key}={ours.get(key, value)}")
    path = root / "etc" / "ivr" / "ivr.env"
    path.write_text("\n".join(lines + [f"TWILIO_API_BASE={fake_url}"]) + "\n")
    path.chmod(0o600)
    return path


def test_running_it_for_real_as_far_as_twilio_configure(tmp_path, fake_twilio_sync):
    fake, url = fake_twilio_sync
    sid = fake.add_number(LINE, voice_url="https://old.example.com/voice")
    # `twilio configure` acts as the account itself (its SID and auth token).
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN
    text = section("Running it for real")
    commands = {shlex.split(c)[shlex.split(c).index(IVR) + 1]: c for c in ivr_commands(text)
                if "--dry-run" not in c}
    dry_run = next(c for c in ivr_commands(text) if "--dry-run" in c)
    for folder in ("etc/ivr", "var/lib/ivr"):
        (tmp_path / folder).mkdir(parents=True)

    version = run(commands["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("ivr "), version.stderr
    made = run(commands["init"], tmp_path)
    assert made.returncode == 0, made.stderr
    env_file(text, tmp_path, url)

    checked = run(commands["check"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    for path in ("/voice/incoming", "/sms/incoming"):
        assert f"https://ivr.example.com{path}" in checked.stdout
    assert str(tmp_path / "var/lib/ivr/ivr.sqlite3") in checked.stdout + checked.stderr

    planned = run(dry_run, tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert f"({sid}): would set" in planned.stdout
    assert "https://old.example.com/voice -> https://ivr.example.com/voice/incoming" in (
        planned.stdout)
    assert fake.number_updates == []

    configured = run(commands["twilio"], tmp_path)
    assert configured.returncode == 0, configured.stderr
    [(updated, form)] = fake.number_updates
    assert updated == sid and form["VoiceUrl"][0].startswith(
        "https://ivr.example.com/voice/incoming")

"""ivr as a user installs it: a wheel built from the checkout, installed into
a fresh virtualenv outside it, serving signed webhooks as a real process.

The wheel is installed with --no-deps and the venv borrows this
interpreter's site-packages through a .pth file: the test then needs no
network, while ivr itself (its code, schema.sql, templates) can only come
from the wheel."""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import aiohttp
import pytest

from .support.driver import sign
from .support.fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET
from .support.harness import AUTH_TOKEN, CUSTOMER, EXAMPLE_CONFIG, LINE, REPO
from .support.processes import clean_environ, free_port, stop, wait_until_healthy
from .support.twiml_check import check_twiml

# Longer than any start or failed start takes; reaching it means a hang.
HANG_SECONDS = 60
SOURCE_SKIP = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                     "node_modules", "tests", "bench", "*.sqlite3*",
                                     "*.local.json", ".pytest_cache", ".hypothesis")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv, outside the checkout, with the wheel built from it."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=SOURCE_SKIP)   # the checkout's build/ stays untouched
    wheels = root / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(wheels), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("ivr-*.whl")
    target = root / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                                "--no-index", str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # After the venv's own site-packages: the wheel's ivr wins over the
    # checkout's editable install, whose finder this .pth does not load.
    Path(site, "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return target


def where_ivr_reads(venv_dir: Path, cwd: Path) -> dict[str, str]:
    shown = subprocess.run(
        [str(venv_dir / "bin" / "python"), "-c",
         "import ivr; print(ivr.__file__); print(ivr.SCHEMA_PATH); print(ivr.TEMPLATES_PATH);"
         "print(ivr.DASHBOARD_TEMPLATES_PATH)"],
        cwd=cwd, env=clean_environ(), capture_output=True, text=True, check=True)
    return dict(zip(("package", "schema", "twiml", "dashboard"), shown.stdout.split("\n")))


def test_the_wheel_carries_ivr_whole_and_reads_nothing_from_the_checkout(installed, tmp_path):
    found = where_ivr_reads(installed, tmp_path)
    for what, path in found.items():
        assert Path(path).is_relative_to(installed), (what, path)
        assert not Path(path).is_relative_to(REPO), (what, path)
    assert Path(found["schema"]).read_text() == (REPO / "schema.sql").read_text()
    for folder, name in (("twiml", "twiml_templates"), ("dashboard", "dashboard_templates")):
        shipped = {p.relative_to(found[folder]) for p in Path(found[folder]).rglob("*")}
        wanted = {p.relative_to(REPO / name) for p in (REPO / name).rglob("*")
                  if "__pycache__" not in p.parts}
        assert shipped == wanted
    # Data files inside the package (the hooks' JSON Schema, say) ship too.
    package = Path(found["schema"]).parent.parent
    data = {p.relative_to(REPO / "ivr") for p in (REPO / "ivr").rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert data and {d for d in data if not (package / d).is_file()} == set()
    version = subprocess.run([str(installed / "bin" / "ivr"), "--version"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("ivr 0."), version


def twilio_env(fake_url: str, public: str, database: Path | str) -> dict[str, str]:
    return clean_environ(TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                         TWILIO_API_KEY=API_KEY, TWILIO_API_SECRET=API_SECRET,
                         TWILIO_API_BASE=fake_url, IVR_PUBLIC_BASE_URL=public,
                         IVR_DATABASE=str(database))


def start_installed(venv_dir: Path, cwd: Path, port: int, env: dict[str, str],
                    config: Path | None = None) -> subprocess.Popen:
    if config is None:
        config = cwd / "ivr.toml"
        shutil.copy(EXAMPLE_CONFIG, config)
    return subprocess.Popen(
        [str(venv_dir / "bin" / "ivr"), "serve", "--config", str(config),
         "--bind", f"127.0.0.1:{port}"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


async def signed_post(session: aiohttp.ClientSession, url: str,
                      params: dict[str, str]) -> tuple[int, str]:
    headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, url, params)}
    async with session.post(url, data=params, headers=headers) as response:
        return response.status, await response.text()


async def test_the_installed_ivr_serves_signed_webhooks(installed, tmp_path, fake_twilio):
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    process = start_installed(installed, tmp_path, port,
                              twilio_env(fake_twilio.url, public, tmp_path / "ivr.sqlite3"))
    try:
        await wait_until_healthy(public, process)
        async with aiohttp.ClientSession() as session:
            status, body = await signed_post(session, public + "/voice/incoming", {
                "CallSid": "CApackaged1", "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
                "To": LINE, "CallStatus": "ringing", "Direction": "inbound"})
            assert status == 200
            assert check_twiml(body).find("Dial") is not None
            status, body = await signed_post(session, public + "/sms/incoming", {
                "MessageSid": "SMpackaged1", "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
                "To": LINE, "Body": "from an installed wheel", "NumMedia": "0"})
            assert status == 200
            assert "will reply shortly" in check_twiml(body, messaging=True).findtext("Message")
            async with session.get(public + "/dashboard/static/dashboard.css") as response:
                assert response.status == 200   # dashboard_templates/static/ came too
    finally:
        code, out, err = stop(process)
    assert code == 0, err


def ended(process: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=HANG_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"the start hung for {HANG_SECONDS} s") from None
    return process.returncode, err


def one_line_saying(err: str, *words: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in err
    return lines[0]


# A start that fails never reaches Twilio.
UNUSED_TWILIO = "http://127.0.0.1:9"


def test_an_install_missing_its_schema_says_so_and_exits(installed, tmp_path):
    schema = Path(where_ivr_reads(installed, tmp_path)["schema"])
    aside = schema.with_name("schema.sql.aside")
    schema.rename(aside)
    try:
        port = free_port()
        process = start_installed(installed, tmp_path, port, twilio_env(
            UNUSED_TWILIO, f"http://127.0.0.1:{port}", tmp_path / "ivr.sqlite3"))
        code, err = ended(process)
    finally:
        aside.rename(schema)
    assert code == 2
    one_line_saying(err, "schema.sql", "Fix:")
    assert not (tmp_path / "ivr.sqlite3").exists()   # said before anything was written


def test_another_programs_database_ends_the_start_with_one_line(installed, tmp_path):
    database = tmp_path / "theirs.sqlite3"
    db = sqlite3.connect(database)
    db.execute("CREATE TABLE conversations (id TEXT PRIMARY KEY, what BLOB)")
    db.commit()
    db.close()
    port = free_port()
    process = start_installed(installed, tmp_path, port, twilio_env(
        UNUSED_TWILIO, f"http://127.0.0.1:{port}", database))
    code, err = ended(process)
    assert code == 2
    one_line_saying(err, "theirs.sqlite3", "Fix:")


def test_sigterm_stops_a_start_waiting_on_a_silent_database(installed, tmp_path):
    """A PostgreSQL server that accepts the connection and never answers:
    the start waits on it, and SIGTERM stops the start there (Hypercorn
    itself reads its signal only once the start is over) and the process
    ends with one line saying why, instead of hanging as it did (issue 17:
    over nine minutes, deaf to SIGTERM)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql://ivr:secret@127.0.0.1:{silent.getsockname()[1]}/ivr"
        port = free_port()
        process = start_installed(installed, tmp_path, port, twilio_env(
            UNUSED_TWILIO, f"http://127.0.0.1:{port}", url))
        # The port answers once ivr has bound it, before it opens the database.
        deadline = time.monotonic() + HANG_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        code, err = ended(process)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("ivr: stopped by SIGTERM while starting")
    assert "secret" not in err and "Traceback" not in err

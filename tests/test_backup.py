"""`ivr backup PATH`: a consistent copy of the SQLite database while the
service runs and writes; PostgreSQL is pg_dump's job, and the command says
how."""

import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from ivr.backup import without_password

from .support.cli import clean_env, run  # noqa: F401 (clean_env is a fixture)
from .support.harness import CUSTOMER, EXAMPLE_CONFIG, LINE, REPO, SERGIO

# A second process writing as the service does (Store.write: the write lock,
# BEGIN IMMEDIATE, WAL, the Checkpointer): two decisions per transaction, so
# a copy that caught half a transaction would hold an odd number.
WRITER = textwrap.dedent("""
    import asyncio, sys
    from ivr.clock import SystemClock
    from ivr.decisions import Channel, DecisionKind, decision
    from ivr.store import Checkpointer, Store

    async def main(path):
        store = Store(path, SystemClock())
        await store.open()
        Checkpointer(store).start()
        n = 0
        while True:
            def pair(tx, n=n):
                for half in ("a", "b"):
                    tx.decide(decision(DecisionKind.CALL_RECEIVED, Channel.VOICE,
                                       f"pair {n}{half}", line="qdn", sid=f"CA{n}"))
            await store.write(pair)
            n += 1
            if n == 200:
                print("writing", flush=True)

    asyncio.run(main(sys.argv[1]))
""")


def database() -> str:
    return os.environ["IVR_DATABASE"]


def count(path, table="decisions") -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


async def test_a_backup_is_a_database_that_opens_with_the_rows(harness, clean_env, tmp_path):
    clean_env.setenv("IVR_DATABASE", harness.services.config.database)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="bin not emptied")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK 1")
    target = tmp_path / "copy.sqlite3"

    code, out, err = run("backup", str(target))
    assert code == 0, err
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # One file: no -wal beside it that the copy would need.
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("SELECT customer FROM conversations").fetchall() == [(CUSTOMER,)]
        assert conn.execute("SELECT body FROM inbound_messages WHERE sender = ?",
                            (CUSTOMER,)).fetchall() == [("bin not emptied",)]
        decisions = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    finally:
        conn.close()
    assert decisions == len(await harness.decisions()) > 0
    assert not os.path.exists(str(target) + "-wal")
    assert os.stat(target).st_mode & 0o777 == 0o600   # customers' texts: the owner's only
    assert f"wrote {target}: " in out and f"decisions {decisions}" in out
    assert "conversations 1" in out
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_a_backup_taken_while_another_process_writes_is_consistent(clean_env, tmp_path):
    path = database()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n", writer.stderr.read()
        sizes = []
        for n in range(5):
            target = tmp_path / f"copy{n}.sqlite3"
            code, out, err = run("backup", str(target))
            assert code == 0, err
            conn = sqlite3.connect(target)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                # Whole transactions only: every pair complete.
                assert conn.execute("SELECT COUNT(*) FROM decisions GROUP BY sid"
                                    " HAVING COUNT(*) <> 2").fetchall() == []
                sizes.append(conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
            finally:
                conn.close()
            time.sleep(0.05)
        assert writer.poll() is None, writer.stderr.read()   # it wrote on throughout
        assert sizes == sorted(sizes) and sizes[-1] > sizes[0] >= 400
    finally:
        writer.terminate()
        writer.wait(10)
    assert count(path) >= sizes[-1]


def test_a_backup_refuses_to_overwrite_unless_forced(clean_env, tmp_path):
    sqlite3.connect(database()).execute("CREATE TABLE decisions (id INTEGER)").close()
    target = tmp_path / "copy.sqlite3"
    target.write_text("an older backup")
    code, out, err = run("backup", str(target))
    assert code == 2 and out == ""
    assert f"{target} already exists. Fix: choose another name, or pass --force" in err
    assert target.read_text() == "an older backup"
    code, out, err = run("backup", "--force", str(target))
    assert code == 0, err
    assert count(target) == 0


@pytest.mark.parametrize("where, says", [
    ("missing/dir/copy.sqlite3", "the directory {tmp}/missing/dir does not exist. "
                                 "Fix: create it (mkdir -p {tmp}/missing/dir)"),
    ("locked/copy.sqlite3", "the directory {tmp}/locked is not writable by this user. Fix:"),
    ("", "{tmp} is a directory. Fix: name the backup file"),
])
def test_a_path_it_cannot_write_is_named_with_the_fix(clean_env, tmp_path, where, says):
    sqlite3.connect(database()).close()
    (tmp_path / "locked").mkdir(mode=0o500)
    if os.access(tmp_path / "locked", os.W_OK) and where.startswith("locked"):
        pytest.skip("running as root: every directory is writable")
    code, out, err = run("backup", str(tmp_path / where) if where else str(tmp_path))
    assert code == 2 and out == ""
    assert says.format(tmp=tmp_path) in err
    assert "Traceback" not in err


def test_a_missing_database_is_named_with_the_fix(clean_env, tmp_path):
    code, out, err = run("backup", str(tmp_path / "copy.sqlite3"))
    assert code == 2
    assert f"the database {database()} does not exist. Fix:" in err
    assert not (tmp_path / "copy.sqlite3").exists()
    assert not os.path.exists(database())   # and it made none


def test_a_file_that_is_no_database_is_named(clean_env, tmp_path):
    with open(database(), "w") as made:
        made.write("not a database at all, just some text that is long enough" * 100)
    code, out, err = run("backup", str(tmp_path / "copy.sqlite3"))
    assert code == 2 and f"could not read the database {database()}" in err
    assert not (tmp_path / "copy.sqlite3").exists()


def test_postgresql_is_told_the_pg_dump_command_without_the_password(clean_env, tmp_path):
    config = tmp_path / "ivr.toml"
    config.write_text(EXAMPLE_CONFIG.read_text("utf-8"))
    clean_env.setenv("IVR_CONFIG", str(config))
    clean_env.setenv("IVR_DATABASE", "postgresql://ivr:s3cret@db.internal:5433/ivr")
    code, out, err = run("backup", "/backups/ivr.dump")
    assert code == 2 and out == ""
    assert ("pg_dump --format=custom --file /backups/ivr.dump "
            "postgresql://ivr@db.internal:5433/ivr") in err
    assert "s3cret" not in err


def test_without_password_keeps_everything_else():
    assert without_password("postgres://u:p@h/db?sslmode=require") == (
        "postgres://u@h/db?sslmode=require")
    assert without_password("postgresql://h/db") == "postgresql://h/db"
    assert without_password("postgresql://u:p@[::1]:5432/db") == "postgresql://u@[::1]:5432/db"


def test_a_write_that_fails_midway_is_named_and_leaves_nothing(clean_env, tmp_path):
    sqlite3.connect(database()).close()
    # /proc takes no new files, whoever asks (root too).
    code, out, err = run("backup", "/proc/ivr-backup.sqlite3")
    assert code == 2 and out == ""
    assert "could not write the backup to /proc/ivr-backup.sqlite3: " in err
    assert "Fix: check that the directory is writable" in err and "Traceback" not in err

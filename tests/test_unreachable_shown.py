"""Numbers Twilio says can never take a text (issue 14, item 1): the
dashboard lists each, whose phone it is and since when, and its "try
again" button clears the mark; `ivr check` warns of each, reading the
database without writing it."""

import asyncio
import re
import sqlite3

from .support.cli import clean_env, run  # noqa: F401 (clean_env is a fixture)
from .support.harness import CUSTOMER, LINE, SERGIO
from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)

LANDLINE = "30006"  # Twilio: landline or unreachable carrier


async def mark_sergios_phone(harness):
    """Sergio's page is reported undelivered with ErrorCode 30006."""
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="bin on fire")
    await harness.deliver_outbox()
    [page] = harness.fake.messages_to(SERGIO)
    await harness.twilio.message_status(message_sid=page.sid, to=SERGIO, from_=LINE,
                                        status="undelivered", error_code=LANDLINE)
    assert await harness.store.read(lambda tx: tx.unreachable(SERGIO)) is not None


async def page(client, path="/dashboard/"):
    return await (await client.get(path, scheme="https")).get_data(as_text=True)


async def log_in(client):
    login_page = await page(client, "/dashboard/login")
    response = await client.post("/dashboard/login", scheme="https",
                                 form={"password": PASSWORD, "csrf_token": csrf_of(login_page)})
    assert response.status_code == 302


def number_key(html: str) -> str:
    match = re.search(r'name="number" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def test_the_dashboard_lists_a_marked_number_and_try_again_clears_it(harness):
    await log_in(harness.client)
    assert "Numbers that cannot take texts" not in await page(harness.client)
    await mark_sergios_phone(harness)

    html = await page(harness.client)
    section = html[html.index("Numbers that cannot take texts"):html.index("Open conversations")]
    assert "Sergio&#39;s phone" in section and "+1619***0101" in section
    assert "error 30006" in section
    assert "since Sun 22 Nov 10:00 PST" in section    # the clock's 18:00 UTC, in the line's zone
    assert SERGIO not in html                           # masked, and not in the form either
    key = number_key(section)

    url = "/dashboard/unreachable-numbers/clear"
    forged = await harness.client.post(url, scheme="https",
                                       form={"csrf_token": "forged", "number": key})
    assert forged.status_code == 400
    assert await harness.store.read(lambda tx: tx.unreachable(SERGIO)) is not None

    cleared = await harness.client.post(url, scheme="https",
                                        form={"csrf_token": csrf_of(html), "number": key})
    assert cleared.status_code == 302
    assert await harness.store.read(lambda tx: tx.unreachable(SERGIO)) is None
    [logged] = [d for d in await harness.decisions() if d.kind == "number_cleared"]
    assert logged.responder_id == "sergio" and "operator" in logged.reason
    assert "+1619***0101" in logged.reason and SERGIO not in logged.reason
    assert "Numbers that cannot take texts" not in await page(harness.client)

    again = await harness.client.post(url, scheme="https",
                                      form={"csrf_token": csrf_of(html), "number": key})
    assert again.status_code == 400                     # nothing marked by that name now




async def test_check_warns_of_each_marked_number_with_the_fix(harness, clean_env):
    await mark_sergios_phone(harness)
    # The CLI runs its own event loop, so it runs in a thread of its own.
    code, out, err = await asyncio.to_thread(run, "check")
    assert code == 0, err
    [warning] = [line for line in out.splitlines() if "cannot take texts" in line]
    assert warning.startswith("WARNING: Sergio's phone +1619***0101 cannot take texts")
    assert "error 30006" in warning and "since Sun 22 Nov 10:00 PST" in warning
    assert "Fix: text the line from that phone, or clear it on the dashboard" in warning
    assert SERGIO not in out + err


def test_check_without_a_database_creates_none(clean_env, tmp_path):
    code, out, err = run("check")
    assert code == 0, err
    assert "cannot take texts" not in out
    assert not (tmp_path / "ivr.sqlite3").exists()


def test_check_reads_an_older_database_without_changing_it(clean_env, tmp_path):
    path = tmp_path / "ivr.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE older (x)")
    db.commit()
    db.close()
    code, out, err = run("check")
    assert code == 0, err
    assert "cannot take texts" not in out
    db = sqlite3.connect(path)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert tables == {"older"}          # no schema applied: read, not opened as the service does

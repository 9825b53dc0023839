"""Blocking and unblocking by hand (issue 15, item 5, continued): the
dashboard lists every blocked number and unblocks a stored one, or blocks
one typed in; `ivr block`, `ivr unblock` and `ivr blocked` do the same from
a shell; a block in the config is shown as such and lifted only by editing
the config, and it holds even while the store cannot be written."""

import asyncio
import logging

import pytest

from ivr.config import load_config
from ivr.web.dashboard import _number_key

from .support.cli import clean_env, run  # noqa: F401 (clean_env is a fixture)
from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO
from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)

LINE_SPAMMER = "+16195550166"      # [lines.qdn] blocked
SERVICE_SPAMMER = "+16195550177"   # [service] blocked
STRANGER = "+16195550123"

CONFIG = f"""
[service]
database = "ivr.sqlite3"
timezone = "America/Los_Angeles"
blocked = ["{SERVICE_SPAMMER}"]

[responders.sergio]
name = "Sergio"
phone = "{SERGIO}"

[responders.backup]
name = "Backup"
phone = "{BACKUP}"

[lines.qdn]
name = "Quick Dump Now"
number = "{LINE}"
code = "QDN"
tiers = ["sergio", "backup"]
blocked = ["619 555 0166"]
"""


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "blocking.toml"
    path.write_text(CONFIG, "utf-8")
    return path


@pytest.fixture
def config(config_path, database):
    return load_config(config_path, database_override=database)


@pytest.fixture
def cli_env(clean_env, config_path, database):
    """`ivr` reads the test's config and the harness's database."""
    clean_env.setenv("IVR_CONFIG", str(config_path))
    clean_env.setenv("IVR_DATABASE", database)
    return clean_env


async def ivr(*argv):
    # The CLI runs its own event loop, so it runs in a thread of its own.
    return await asyncio.to_thread(run, *argv)


async def of_kind(harness, kind):
    return [d for d in await harness.decisions() if d.kind == kind]


async def page(client, path="/dashboard/"):
    return await (await client.get(path, scheme="https")).get_data(as_text=True)


async def post(client, path, form):
    return await client.post(path, scheme="https", form=form)


async def log_in(client):
    login_page = await page(client, "/dashboard/login")
    response = await post(client, "/dashboard/login",
                          {"password": PASSWORD, "csrf_token": csrf_of(login_page)})
    assert response.status_code == 302


async def blocked_by_sergio(harness):
    """The customer texts, Sergio answers BLOCK: the customer is blocked on qdn."""
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="buy cheap watches")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="BLOCK")
    assert await harness.store.read(lambda tx: tx.is_blocked("qdn", CUSTOMER))


async def pages_sergio(harness, sender, body):
    """Whether a text from `sender` reaches Sergio."""
    await harness.twilio.text(from_=sender, to=LINE, body=body)
    await harness.deliver_outbox()
    return any(body in m.body for m in harness.fake.messages_to(SERGIO))


def blocked_section(html):
    return html[html.index("<h2>Blocked numbers</h2>"):html.index("<h2>Recent calls</h2>")]


def key_of(harness, line_id, number):
    return _number_key(harness.app.secret_key, f"{line_id} {number}")


# -- the dashboard --------------------------------------------------------------------

@pytest.mark.both_engines
async def test_the_dashboard_lists_blocked_numbers_and_unblocks_a_stored_one(harness):
    await blocked_by_sergio(harness)
    unblock_url = "/dashboard/blocked-numbers/unblock"
    key = key_of(harness, "qdn", CUSTOMER)

    # Not logged in: the login page, and nothing changes.
    response = await post(harness.client, unblock_url, {"block": key})
    assert response.status_code == 302 and response.location.endswith("/dashboard/login")

    await log_in(harness.client)
    html = await page(harness.client)
    section = blocked_section(html)
    assert "+1619***0142" in section and "QDN (qdn)" in section
    assert "blocked by sergio · since Sun 22 Nov 10:00 PST" in section  # 18:00 UTC, line's zone
    assert "BLOCK from sergio on #1" in section
    for number in (CUSTOMER, LINE_SPAMMER, SERVICE_SPAMMER):
        assert number not in html                    # masked, and not in a form either
    assert section.count('name="block"') == 1        # the config's two have no button

    forged = await post(harness.client, unblock_url, {"csrf_token": "forged", "block": key})
    assert forged.status_code == 400
    assert await harness.store.read(lambda tx: tx.is_blocked("qdn", CUSTOMER))

    done = await post(harness.client, unblock_url, {"csrf_token": csrf_of(html), "block": key})
    assert done.status_code == 302
    assert not await harness.store.read(lambda tx: tx.is_blocked("qdn", CUSTOMER))
    [logged] = await of_kind(harness, "number_unblocked")
    assert logged.reason == ("operator unblocked +1619***0142 on QDN (qdn) from the dashboard "
                             "(blocked by sergio)")
    assert logged.line_id == "qdn"
    assert "+1619***0142" not in blocked_section(await page(harness.client))
    assert await pages_sergio(harness, CUSTOMER, "sorry, about my bin")

    again = await post(harness.client, unblock_url, {"csrf_token": csrf_of(html), "block": key})
    assert again.status_code == 400
    assert "not blocked (any more)" in await again.get_data(as_text=True)


async def test_a_number_blocked_in_the_config_is_shown_so_and_not_unblocked(harness,
                                                                             config_path):
    await log_in(harness.client)
    html = await page(harness.client)
    section = blocked_section(html)
    assert "+1619***0166" in section and "+1619***0177" in section
    assert f"remove it from [lines.qdn] blocked in {config_path}" in section
    assert f"remove it from [service] blocked in {config_path}" in section
    assert "Unblock" not in section

    # A forged form naming it is refused with the fix, and the number stays blocked.
    response = await post(harness.client, "/dashboard/blocked-numbers/unblock",
                          {"csrf_token": csrf_of(html),
                           "block": key_of(harness, "qdn", LINE_SPAMMER)})
    assert response.status_code == 400
    body = await response.get_data(as_text=True)
    assert f"remove it from [lines.qdn] blocked in {config_path}" in body
    assert LINE_SPAMMER not in body
    assert not await pages_sergio(harness, LINE_SPAMMER, "still spam")
    assert await of_kind(harness, "number_unblocked") == []


async def test_a_stored_block_of_a_number_the_config_lists_too_is_lifted_alone(harness):
    # Blocked by hand before the config listed it too.
    await harness.store.write(lambda tx: tx.block("qdn", LINE_SPAMMER, "sergio", "spam"))
    await log_in(harness.client)
    html = await page(harness.client)
    assert blocked_section(html).count('name="block"') == 1
    response = await post(harness.client, "/dashboard/blocked-numbers/unblock",
                          {"csrf_token": csrf_of(html),
                           "block": key_of(harness, "qdn", LINE_SPAMMER)})
    assert response.status_code == 302
    assert await harness.store.read(lambda tx: tx.blocked_numbers()) == []
    [logged] = await of_kind(harness, "number_unblocked")
    assert logged.reason.endswith("(blocked by sergio); still blocked by [lines.qdn] blocked")
    assert not await pages_sergio(harness, LINE_SPAMMER, "still spam")


@pytest.mark.both_engines
async def test_the_dashboard_blocks_a_number_typed_in(harness):
    block_url = "/dashboard/blocked-numbers/block"
    form = {"number": "(619) 555-0123", "line": "qdn", "reason": "rude  again"}
    response = await post(harness.client, block_url, form)
    assert response.status_code == 302 and response.location.endswith("/dashboard/login")

    await log_in(harness.client)
    html = await page(harness.client)
    assert "Block a number" in html
    forged = await post(harness.client, block_url, {**form, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert await harness.store.read(lambda tx: tx.blocked_numbers()) == []

    done = await post(harness.client, block_url, {**form, "csrf_token": csrf_of(html)})
    assert done.status_code == 302
    assert await harness.store.read(lambda tx: tx.is_blocked("qdn", STRANGER))
    [logged] = await of_kind(harness, "number_blocked")
    assert logged.reason == ("operator blocked +1619***0123 on QDN (qdn) from the dashboard: "
                             "rude again")
    section = blocked_section(await page(harness.client))
    assert "+1619***0123" in section and "blocked by operator" in section
    assert not await pages_sergio(harness, STRANGER, "hello?")
    assert len(await of_kind(harness, "blocked")) == 1

    # Every line: no line chosen.
    every = await post(harness.client, block_url, {"csrf_token": csrf_of(html),
                                                   "number": "+16195550124", "line": "*"})
    assert every.status_code == 302
    assert await harness.store.read(lambda tx: tx.is_blocked("any line", "+16195550124"))


@pytest.mark.parametrize(("number", "line", "expected"), [
    ("12", "qdn", "Fix: write the whole number, like +16195550142"),
    ("+16195550125", "nope", "&#39;nope&#39; is not a line in"),
    (SERGIO, "qdn", "is Sergio&#39;s phone (responders.sergio.phone)"),
    (LINE, "*", "is the number of line qdn"),
    (LINE_SPAMMER, "qdn", "is already blocked in [lines.qdn] blocked of"),
])
async def test_the_dashboard_says_why_it_cannot_block(harness, number, line, expected):
    await log_in(harness.client)
    html = await page(harness.client)
    response = await post(harness.client, "/dashboard/blocked-numbers/block",
                          {"csrf_token": csrf_of(html), "number": number, "line": line})
    assert response.status_code == 400
    body = await response.get_data(as_text=True)
    assert expected in body and "Traceback" not in body
    assert await harness.store.read(lambda tx: tx.blocked_numbers()) == []
    assert await of_kind(harness, "number_blocked") == []


# -- ivr block, unblock, blocked ------------------------------------------------------

@pytest.mark.both_engines
async def test_block_blocked_and_unblock_from_the_command_line(harness, cli_env):
    code, out, err = await ivr("blocked")
    assert code == 0, err
    assert out.splitlines() == [
        "+1619***0177   every line   in the config: [service] blocked",
        "+1619***0166   QDN (qdn)    in the config: [lines.qdn] blocked"]

    code, out, err = await ivr("block", "619-555-0123", "--line", "qdn", "--reason", "spam")
    assert (code, out, err) == (0, "+1619***0123 blocked on QDN (qdn)\n", "")
    [logged] = await of_kind(harness, "number_blocked")
    assert logged.reason == ("operator blocked +1619***0123 on QDN (qdn) with the ivr command: "
                             "spam")
    assert not await pages_sergio(harness, STRANGER, "hello?")
    code, out, _ = await ivr("block", STRANGER, "--line", "qdn")
    assert (code, out) == (0, "+1619***0123 was already blocked on QDN (qdn)\n")

    code, out, err = await ivr("blocked")
    assert code == 0, err
    [stored] = [row for row in out.splitlines() if "+1619***0123" in row]
    assert stored.startswith("+1619***0123   QDN (qdn)    by operator, ") and stored.endswith(
        ": spam")
    assert STRANGER not in out

    # As `ivr blocked` showed it: masked.
    code, out, err = await ivr("unblock", "+1619***0123")
    assert (code, out, err) == (0, "+1619***0123 unblocked on QDN (qdn)\n", "")
    [logged] = await of_kind(harness, "number_unblocked")
    assert logged.reason == ("operator unblocked +1619***0123 on QDN (qdn) with the ivr "
                             "command (blocked by operator)")
    assert await pages_sergio(harness, STRANGER, "hello again")

    # Blocked on every line (no --line), then lifted on every line.
    assert (await ivr("block", "+16195550124"))[:2] == (
        0, "+1619***0124 blocked on every line\n")
    assert not await pages_sergio(harness, "+16195550124", "anyone?")
    code, _, err = await ivr("unblock", "+16195550124", "--line", "qdn")
    assert code == 2
    assert err == ("ivr: +1619***0124 is blocked on every line, not on qdn alone. Fix: "
                   "unblock it on every line (no --line)\n")
    assert (await ivr("unblock", "+16195550124"))[:2] == (
        0, "+1619***0124 unblocked on every line\n")


@pytest.mark.both_engines
async def test_a_number_unblocked_from_the_command_line_texts_again_and_pages(harness,
                                                                              cli_env):
    await blocked_by_sergio(harness)
    assert not await pages_sergio(harness, CUSTOMER, "why no answer")
    code, out, err = await ivr("unblock", CUSTOMER, "--line", "qdn")
    assert (code, err) == (0, "") and out == "+1619***0142 unblocked on QDN (qdn)\n"
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="my bin is full")
    await harness.deliver_outbox()
    assert harness.fake.messages_to(SERGIO)[-1].body == (
        "[QDN #2] +1 619-555-0142: my bin is full - reply ACK to take it")


@pytest.mark.parametrize(("argv", "expected"), [
    (("block", STRANGER, "--line", "nope"),
     "ivr: 'nope' is not a line in {path}. Fix: use one of: qdn (or none, for every line)"),
    (("unblock", STRANGER, "--line", "nope"), "ivr: 'nope' is not a line in {path}."),
    (("block", "555"), "ivr: '555' is not a valid phone number. Fix: write the whole number,"),
    (("unblock", "call me"), "ivr: 'call me' is not a phone number"),
    (("unblock", LINE_SPAMMER),
     "ivr: +1619***0166 is blocked in the config, so it cannot be unblocked here. Fix: remove "
     "it from [lines.qdn] blocked in {path}, then restart the service"),
    (("unblock", SERVICE_SPAMMER, "--line", "qdn"),
     "ivr: +1619***0177 is blocked in the config, so it cannot be unblocked here. Fix: remove "
     "it from [service] blocked in {path}, then restart the service"),
    (("block", SERVICE_SPAMMER, "--line", "qdn"),
     "ivr: +1619***0177 is already blocked in [service] blocked of {path}. Fix: nothing to do"),
    (("block", BACKUP), "ivr: +1858***0199 is Backup's phone (responders.backup.phone), which "
                        "cannot be blocked. Fix: give a customer's number"),
    (("unblock", "+1619***0199"),
     "ivr: +1619***0199 matches no blocked number. Fix: give the whole number"),
    (("unblock", STRANGER),
     "ivr: +1619***0123 is not blocked. Fix: see the blocked numbers with `ivr blocked` or on "
     "the dashboard"),
])
async def test_the_block_commands_say_what_is_wrong_and_the_fix(harness, cli_env, config_path,
                                                                 argv, expected):
    code, out, err = await ivr(*argv)
    assert code == 2 and out == ""
    assert err.startswith(expected.format(path=config_path)), err
    assert "Traceback" not in err and err.count("\n") == 1
    assert await of_kind(harness, "number_blocked") == []
    assert await of_kind(harness, "number_unblocked") == []


def test_the_block_commands_need_a_database(clean_env, config_path):
    clean_env.setenv("IVR_CONFIG", str(config_path))
    code, _, err = run("blocked")
    assert code == 2 and "does not exist yet" in err and "IVR_DATABASE" in err


# -- the store down -------------------------------------------------------------------

def carried(response):
    return [(m.get("to"), m.text) for m in response.twiml.iter("Message")]


@pytest.mark.both_engines
async def test_a_number_blocked_in_the_config_goes_nowhere_while_the_store_is_down(harness,
                                                                                   caplog):
    await blocked_by_sergio(harness)
    await harness.store.close()  # the disk is gone, the database with it
    caplog.set_level(logging.INFO)
    for spammer in (LINE_SPAMMER, SERVICE_SPAMMER):
        response = await harness.twilio.text(from_=spammer, to=LINE, body="cheap watches")
        assert response.status == 200 and carried(response) == []
        assert spammer not in caplog.text
    assert caplog.text.count("text from a number blocked in the config not recorded") == 2
    # A block kept in the store cannot be read now: that text is carried on as any other.
    response = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="more watches")
    assert [to for to, _ in carried(response)] == [SERGIO, None]

"""Issue 18, item 5: a close tells the responders working on it (the
owner, or those paged while nobody had taken it), from the dashboard and
by CLOSE alike; and a hand-over is shown as one, by whom, never as an ACK
the new owner did not send."""

import pytest

from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO
from .support.operator import csrf_of, harness  # noqa: F401 (a fixture)
from .test_dashboard import log_in, page, post

pytestmark = pytest.mark.both_engines


async def sent_to(harness, number: str) -> list[str]:
    await harness.deliver_outbox()
    return [m.body for m in harness.fake.messages_to(number)]


async def close_from_dashboard(harness) -> None:
    html = await page(harness.client)
    response = await post(harness.client, "/dashboard/conversations/1/close",
                          form={"csrf_token": csrf_of(html)})
    assert response.status_code == 302


async def test_closing_a_waiting_conversation_tells_those_paged(harness, database):
    await log_in(harness.client)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await close_from_dashboard(harness)
    assert (await sent_to(harness, SERGIO))[-1] == (
        "[QDN #1] closed by operator on the dashboard; nothing more to do.")
    assert await sent_to(harness, BACKUP) == []          # never paged: nothing to tell
    assert (await sent_to(harness, CUSTOMER))[-1].startswith("Quick Dump Now has closed")


async def test_closing_an_owned_conversation_tells_its_owner_only(harness, database):
    await log_in(harness.client)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    harness.clock.advance(130)
    await harness.fire_timers()                           # Backup is paged too
    await harness.twilio.text(from_=BACKUP, to=LINE, body="ACK")
    told_sergio = len(await sent_to(harness, SERGIO))     # the page, "moved on", "Backup took it"
    await close_from_dashboard(harness)
    assert (await sent_to(harness, BACKUP))[-1] == (
        "[QDN #1] closed by operator on the dashboard; nothing more to do.")
    assert len(await sent_to(harness, SERGIO)) == told_sergio


async def test_close_by_text_tells_the_others_paged_and_answers_the_closer(harness, database):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    harness.clock.advance(130)
    await harness.fire_timers()
    answer = await harness.twilio.text(from_=BACKUP, to=LINE, body="CLOSE 1")
    assert answer.messages() == ["[QDN #1] closed; the customer was told."]
    assert (await sent_to(harness, SERGIO))[-1] == "[QDN #1] closed by Backup; nothing more to do."
    assert not any("closed by" in body for body in await sent_to(harness, BACKUP))
    [closed] = [d for d in await harness.decisions() if d.kind == "closed"]
    notices = await harness.store.read(lambda tx: tx._all(
        "SELECT responder_id FROM outbox WHERE decision_id = ? AND purpose = 'notice'",
        (closed.id,)))
    assert [row[0] for row in notices] == ["sergio"]


async def test_a_hand_over_is_labelled_a_hand_over_not_an_ack(harness, database):
    await log_in(harness.client)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    harness.clock.advance(240)
    html = await page(harness.client)
    await post(harness.client, "/dashboard/conversations/1/hand-over",
               form={"csrf_token": csrf_of(html), "responder": "backup"})
    html = await page(harness.client)
    assert "Backup has it" in html and "handed over by operator after 4 min" in html
    assert "ACKed" not in html

    harness.clock.advance(60)
    await harness.twilio.text(from_=BACKUP, to=LINE, body="HANDOVER sergio")
    html = await page(harness.client)
    assert "Sergio has it" in html and "handed over by Backup (by text) after 5 min" in html


async def test_an_ack_is_still_labelled_an_ack(harness, database):
    await log_in(harness.client)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    harness.clock.advance(30)
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    html = await page(harness.client)
    assert "Sergio has it" in html and "ACKed after 30 s" in html and "handed over" not in html

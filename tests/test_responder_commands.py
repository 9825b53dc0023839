"""A responder's commands by text (issue 15, item 3): PASS, HANDOVER,
RELEASE, LIST, HELP. The parser with tables and hypothesis; each command
end to end. Before: "PASS", "HANDOVER backup", "ESCALATE" and "RELEASE 1"
were relayed word for word to the customer."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.conversations.commands import (
    Ack,
    Close,
    CommandHelp,
    Handover,
    ListOwn,
    Pass,
    Release,
    Reply,
    parse_responder_text,
)

from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO, Harness

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

OTHER_CUSTOMER = "+16195550177"


@pytest.mark.parametrize("body, command", [
    ("PASS", Pass(None)),
    ("pass 12", Pass(12)),
    (" Pass #3 ", Pass(3)),
    ("ESCALATE", Pass(None)),
    ("escalate 4", Pass(4)),
    ("HANDOVER backup", Handover("backup", None)),
    ("handover Backup 12", Handover("Backup", 12)),
    ("HANDOVER 12 backup", Handover("backup", 12)),
    ("hand over ana #7", Handover("ana", 7)),
    ("RELEASE 1", Release(1)),
    ("release", Release(None)),
    ("LIST", ListOwn()),
    (" list ", ListOwn()),
    ("HELP", CommandHelp()),
    # A command word that is no well-formed command is asked about, never relayed.
    ("HANDOVER", CommandHelp("HANDOVER")),
    ("HANDOVER 12", CommandHelp("HANDOVER")),
    ("pass the salt", CommandHelp("PASS")),
    ("Release me now", CommandHelp("RELEASE")),
    ("hand over the keys please", CommandHelp("HANDOVER")),
    # The way to text a customer such a word: start with the code.
    ("12 pass the salt", Reply("12 pass the salt", code=12, rest="pass the salt")),
    ("#3: RELEASE form signed", Reply("#3: RELEASE form signed", code=3, rest="RELEASE form signed")),
    # Ordinary replies stay replies.
    ("Passing by at 5", Reply("Passing by at 5")),
    ("On my way", Reply("On my way")),
    ("Help is on the way", Reply("Help is on the way")),
    ("List of items attached", Reply("List of items attached")),
    ("ACK 2", Ack(2)),
    ("close", Close(None)),
])
def test_what_a_command_text_means(body, command):
    assert parse_responder_text(body) == command


COMMAND_WORDS = st.sampled_from(["PASS", "pass", "Escalate", "HANDOVER", "Release", "RELEASE"])


@given(COMMAND_WORDS, st.text(max_size=60))
def test_a_text_starting_with_a_command_word_is_never_relayed(word, rest):
    command = parse_responder_text(f"{word} {rest}")
    assert not isinstance(command, Reply)


@given(st.integers(min_value=1, max_value=999999), COMMAND_WORDS,
       st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
               min_size=1, max_size=40))
def test_a_code_first_sends_any_words_to_that_conversation(code, word, rest):
    body = f"{code} {word} {rest}"
    assert parse_responder_text(body) == Reply(body, code=code, rest=f"{word} {rest}")


@given(st.sampled_from([("PASS", Pass), ("ESCALATE", Pass), ("RELEASE", Release),
                        ("ACK", Ack), ("CLOSE", Close)]),
       st.one_of(st.none(), st.integers(min_value=1, max_value=999999)),
       st.sampled_from(["", " ", "  ", " #", "#"]))
def test_every_command_takes_an_optional_code(word_kind, code, gap):
    word, kind = word_kind
    body = word if code is None else f"{word}{gap}{code}"
    assert parse_responder_text(body) == kind(code)


# -- end to end --------------------------------------------------------------------

async def sent(harness: Harness, to: str) -> list[str]:
    await harness.deliver_outbox()
    return [m.body for m in harness.fake.messages_to(to)]


async def kinds(harness: Harness) -> list[str]:
    return [d.kind for d in await harness.decisions()]


async def reply(harness: Harness, sender: str, body: str) -> list[str]:
    return (await harness.twilio.text(from_=sender, to=LINE, body=body)).messages()


async def test_pass_pages_the_next_tier_now(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
    await sent(harness, SERGIO)
    assert await reply(harness, SERGIO, "PASS") == ["[QDN #1] passed on to Backup."]
    assert await sent(harness, BACKUP) == [
        "[QDN #1] +1 619-555-0142: Bin is on fire - reply ACK to take it"]
    assert await sent(harness, CUSTOMER) == [
        "We're still finding someone for you; your message has gone to Backup."]
    # Sergio is answered by the reply, not also told "nobody took it in time".
    assert len(await sent(harness, SERGIO)) == 1
    assert "passed" in await kinds(harness) and "escalated" in await kinds(harness)
    # The tier-1 deadline was replaced: nothing fires at it; tier 2's does.
    harness.clock.advance(119)
    assert await harness.fire_timers() == 0
    harness.clock.advance(1)
    assert await harness.fire_timers() == 1
    assert (await sent(harness, BACKUP))[-1].startswith("[QDN #1] UNANSWERED")


async def test_pass_by_the_owner_gives_it_up(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="help")
    await reply(harness, SERGIO, "ACK")
    assert await reply(harness, SERGIO, "escalate 1") == ["[QDN #1] passed on to Backup."]
    conversation = await harness.store.read(lambda tx: tx.conversation(1))
    assert conversation.owner is None and conversation.tier == 1
    assert (await sent(harness, BACKUP))[-1].endswith("reply ACK to take it")
    assert await reply(harness, BACKUP, "ACK") == [
        "[QDN #1] is yours. Your replies go to the customer from the line's number; "
        "CLOSE 1 when done."]


async def test_pass_at_the_last_tier_pages_everyone_else(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="anyone?")
    harness.clock.advance(120)
    await harness.fire_timers()
    await reply(harness, BACKUP, "ACK")
    assert await reply(harness, BACKUP, "PASS") == ["[QDN #1] passed on to Sergio."]
    assert (await sent(harness, SERGIO))[-1].startswith("[QDN #1] UNANSWERED")
    assert all("UNANSWERED" not in body for body in await sent(harness, BACKUP))


async def test_handover_gives_it_to_the_named_responder(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Where is my truck?")
    await reply(harness, SERGIO, "ACK")
    assert await reply(harness, SERGIO, "HANDOVER backup") == ["[QDN #1] handed to Backup."]
    assert (await sent(harness, BACKUP))[-1] == (
        "[QDN #1] +1 619-555-0142: Where is my truck? (handed to you by Sergio; "
        "replies go to the customer)")
    assert (await sent(harness, CUSTOMER))[-1] == (
        "Backup is on it and will text you from this number.")
    [handed] = [d for d in await harness.decisions() if d.kind == "handed_over"]
    assert handed.responder_id == "backup" and "Sergio (by text)" in handed.reason
    # Backup's replies now reach the customer; Sergio's reply finds nothing of his.
    await reply(harness, BACKUP, "on it")
    assert (await sent(harness, CUSTOMER))[-1] == "on it"
    assert (await reply(harness, SERGIO, "still there?"))[0].startswith(
        "[QDN] you have no open conversation")


async def test_handover_to_nobody_known_is_refused(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await reply(harness, SERGIO, "ACK")
    await harness.deliver_outbox()
    harness.fake.messages.clear()
    assert await reply(harness, SERGIO, "HANDOVER bakup") == [
        "[QDN] nobody called bakup answers Quick Dump Now; try Sergio, Backup."]
    assert await sent(harness, CUSTOMER) == []
    assert "command_refused" in await kinds(harness)


async def test_release_gives_it_back_to_the_cascade(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="bin full")
    await reply(harness, SERGIO, "ACK")
    await harness.deliver_outbox()
    harness.fake.messages.clear()
    assert await reply(harness, SERGIO, "RELEASE 1") == ["[QDN #1] released; it went to Backup."]
    assert await sent(harness, BACKUP) == ["[QDN #1] +1 619-555-0142: bin full - reply ACK to take it"]
    assert await sent(harness, CUSTOMER) == [
        "We're still finding someone for you; your message has gone to Backup."]
    assert await sent(harness, SERGIO) == []
    [released] = [d for d in await harness.decisions() if d.kind == "released"]
    assert released.responder_id == "sergio" and "owner is cleared" in released.reason
    # A fresh ACK deadline.
    assert len(await harness.store.read(lambda tx: tx.pending_timers(1))) == 1
    # Released twice: nothing is theirs to release.
    assert await reply(harness, SERGIO, "RELEASE") == [
        "[QDN] nothing to RELEASE: add the code, e.g. \"RELEASE 12\" (LIST shows yours)."]


async def test_someone_elses_conversation_cannot_be_passed_or_released(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await reply(harness, SERGIO, "ACK")
    assert await reply(harness, BACKUP, "PASS 1") == ["[QDN #1] is already taken by Sergio."]
    assert await reply(harness, BACKUP, "RELEASE 1") == ["[QDN #1] is already taken by Sergio."]
    assert await reply(harness, BACKUP, "HANDOVER backup 1") == [
        "[QDN #1] is already taken by Sergio."]
    assert await reply(harness, BACKUP, "PASS 9") == ["[QDN] there is no open #9."]
    assert (await harness.store.read(lambda tx: tx.conversation(1))).owner == "sergio"


async def test_list_shows_mine_and_what_waits_for_me(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="first")
    await harness.twilio.text(from_=OTHER_CUSTOMER, to=LINE, body="second")
    await reply(harness, SERGIO, "ACK 1")
    assert await reply(harness, SERGIO, "LIST") == [
        "[QDN] yours: #1 +1 619-555-0142; waiting for an ACK: #2 +1 619-555-0177."]
    assert await reply(harness, BACKUP, "list") == ["[QDN] yours: none."]
    assert "listed" in await kinds(harness)


async def test_help_from_a_responder_lists_the_commands(harness):
    [answer] = await reply(harness, SERGIO, "HELP")
    for word in ("ACK", "PASS", "HANDOVER", "RELEASE", "CLOSE", "LIST", "12 pass the salt"):
        assert word in answer


@pytest.mark.parametrize("body", ["PASS", "HANDOVER backup", "ESCALATE", "RELEASE 1",
                                  "pass the salt", "HANDOVER", "LIST", "HELP"])
async def test_a_command_word_never_reaches_the_customer(harness, body):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await reply(harness, SERGIO, "ACK")
    await reply(harness, SERGIO, body)
    assert body not in await sent(harness, CUSTOMER)
    assert "relayed_to_customer" not in await kinds(harness)


async def test_the_code_first_sends_a_command_word_to_the_customer(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await reply(harness, SERGIO, "ACK")
    assert await reply(harness, SERGIO, "1 pass the salt") == []
    assert (await sent(harness, CUSTOMER))[-1] == "pass the salt"

"""Phone pages (issue 15, item 1): a responder paged by text who has not
ACKed is phoned; the call says who is waiting and what they wrote; 1 takes
it, 2 passes it on, 3 says it again; a voicemail or no key takes nothing.
The responder's side is played as Twilio would: the placed call's URL
fetched with a signed POST, its TwiML checked and followed."""

import asyncio

import pytest

from ivr.config import ConfigError, parse_config

from .support.cli import clean_env  # noqa: F401 - a fixture
from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO, open_harness
from .support.phone_page import PhonePage

pytestmark = pytest.mark.both_engines

ACK_SECONDS = 120
CALL_AFTER = 30


def _config(database, tmp_path, **line_keys):
    return parse_config({
        "service": {"database": database},
        "responders": {"sergio": {"name": "Sergio", "phone": SERGIO},
                       "backup": {"name": "Backup", "phone": BACKUP}},
        "lines": {"qdn": {"name": "Quick Dump Now", "number": LINE, "code": "QDN",
                          "tiers": ["sergio", "backup"], "ack_seconds": ACK_SECONDS,
                          "page_call_after_seconds": CALL_AFTER, **line_keys}},
    }, tmp_path / "ivr.toml")


@pytest.fixture
def config(database, tmp_path):
    return _config(database, tmp_path)


@pytest.fixture
async def phoning(config, fake_twilio):
    async with open_harness(config, fake_twilio) as harness:
        yield harness


async def _text_and_wait(harness, seconds=CALL_AFTER):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="The bin is on fire")
    await harness.deliver_outbox()
    harness.clock.advance(seconds)
    return await harness.services.phone_pager.place_due()


async def _kinds(harness):
    return [d.kind for d in await harness.decisions()]


async def test_an_unacked_page_phones_the_tier_and_pressing_1_takes_it(phoning):
    assert await _text_and_wait(phoning, CALL_AFTER - 1) == 0     # not before its time
    phoning.clock.advance(1)
    assert await phoning.services.phone_pager.place_due() == 1
    [placed] = phoning.fake.calls
    assert (placed.to, placed.from_) == (SERGIO, LINE)
    assert placed.form["StatusCallbackEvent"] == ["completed"]

    phone = PhonePage(phoning, placed)
    spoken = await phone.answer()
    assert "The bin is on fire" in spoken.words and "Press 1 to take it" in spoken.words
    again = await phone.press(spoken, "3")
    assert again.words == spoken.words                              # 3: said again
    taken = await phone.press(again, "1")
    assert "It is yours" in taken.words and taken.hangs_up
    await phone.ended()

    conversation = await phoning.store.read(lambda tx: tx.conversation(1))
    assert conversation.owner == "sergio"
    await phoning.deliver_outbox()
    assert "Sergio is on it" in phoning.fake.messages_to(CUSTOMER)[-1].body
    # The cascade stopped: the ACK deadline pages nobody.
    phoning.clock.advance(ACK_SECONDS)
    assert await phoning.fire_timers() == 0
    assert phoning.fake.messages_to(BACKUP) == []
    kinds = await _kinds(phoning)
    assert kinds.count("page_call_placed") == 1 and "page_call_repeated" in kinds
    [acked] = [d for d in await phoning.decisions() if d.kind == "acknowledged"]
    assert acked.channel == "voice" and "pressed 1 on a phone page" in acked.reason
    assert "page_call_unanswered" not in kinds


async def test_a_phone_page_answered_by_voicemail_is_no_ack_and_the_cascade_goes_on(phoning):
    assert await _text_and_wait(phoning) == 1
    phone = PhonePage(phoning, phoning.fake.calls[0])
    spoken = await phone.answer()
    # A voicemail greeting listens; no key comes, and Gather posts nothing.
    silence = await phone.press(spoken, "")
    assert "No key was pressed" in silence.words and silence.hangs_up
    await phone.ended("completed")
    assert (await phoning.store.read(lambda tx: tx.conversation(1))).owner is None
    phoning.clock.advance(ACK_SECONDS - CALL_AFTER)
    assert await phoning.fire_timers() == 1
    await phoning.deliver_outbox()
    assert "The bin is on fire" in phoning.fake.messages_to(BACKUP)[0].body
    kinds = await _kinds(phoning)
    assert kinds.count("page_call_unanswered") == 1     # the status callback adds no second
    assert "escalated" in kinds


async def test_a_phone_page_nobody_answers_is_logged_and_tier_two_is_phoned_next(phoning):
    await _text_and_wait(phoning)
    await PhonePage(phoning, phoning.fake.calls[0]).ended("no-answer")
    [unanswered] = [d for d in await phoning.decisions() if d.kind == "page_call_unanswered"]
    assert "no-answer" in unanswered.reason
    phoning.clock.advance(ACK_SECONDS - CALL_AFTER)
    await phoning.fire_timers()
    phoning.clock.advance(CALL_AFTER)
    assert await phoning.services.phone_pager.place_due() == 1
    assert [c.to for c in phoning.fake.calls] == [SERGIO, BACKUP]


async def test_pressing_2_passes_it_to_the_next_tier_now(phoning):
    await _text_and_wait(phoning)
    phone = PhonePage(phoning, phoning.fake.calls[0])
    passed = await phone.press(await phone.answer(), "2")
    assert "Passed on to Backup" in passed.words and passed.hangs_up
    await phoning.deliver_outbox()
    assert "The bin is on fire" in phoning.fake.messages_to(BACKUP)[0].body
    assert (await phoning.store.read(lambda tx: tx.conversation(1))).tier == 1


async def test_an_ack_by_text_first_means_no_call(phoning):
    await phoning.twilio.text(from_=CUSTOMER, to=LINE, body="The bin is on fire")
    await phoning.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    phoning.clock.advance(CALL_AFTER)
    assert await phoning.services.phone_pager.place_due() == 0
    assert phoning.fake.calls == []


async def test_a_call_due_after_the_conversation_moved_on_is_skipped(phoning, fake_twilio):
    await phoning.twilio.text(from_=CUSTOMER, to=LINE, body="The bin is on fire")
    await phoning.twilio.text(from_=SERGIO, to=LINE, body="PASS")   # tier 2 now
    phoning.clock.advance(CALL_AFTER)
    assert await phoning.services.phone_pager.place_due() == 1       # Sergio skipped
    assert [c.to for c in fake_twilio.calls] == [BACKUP]
    [skipped] = [d for d in await phoning.decisions() if d.kind == "page_call_skipped"]
    assert skipped.responder_id == "sergio" and "moved on to tier 2" in skipped.reason


async def test_a_call_twilio_refuses_is_logged_once_and_the_text_page_stands(phoning):
    await phoning.twilio.text(from_=CUSTOMER, to=LINE, body="The bin is on fire")
    await phoning.deliver_outbox()                                   # the text page went out
    phoning.fake.fail_next(400, 21215, "Geo permission not enabled")
    phoning.clock.advance(CALL_AFTER)
    assert await phoning.services.phone_pager.place_due() == 1
    assert phoning.fake.calls == []
    [failed] = [d for d in await phoning.decisions() if d.kind == "page_call_failed"]
    assert "21215" in failed.reason or "Geo permission" in failed.reason
    assert await phoning.services.phone_pager.place_due() == 0      # never tried again
    phoning.clock.advance(ACK_SECONDS)
    assert await phoning.fire_timers() == 1                          # the cascade goes on


async def test_a_taken_conversation_says_so_to_a_late_answer(phoning):
    await _text_and_wait(phoning)
    await phoning.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    spoken = await PhonePage(phoning, phoning.fake.calls[0]).answer()
    assert "no longer waiting" in spoken.words or "already taken" in spoken.words
    assert spoken.hangs_up


async def test_page_calls_repeat_and_a_responder_can_be_left_out(database, tmp_path,
                                                                 fake_twilio):
    config = _config(database, tmp_path, page_calls=2, page_call_repeat_seconds=40)
    async with open_harness(config, fake_twilio) as harness:
        assert await _text_and_wait(harness) == 1
        harness.clock.advance(40)
        assert await harness.services.phone_pager.place_due() == 1
        assert [c.to for c in fake_twilio.calls] == [SERGIO, SERGIO]


def test_phone_page_keys_are_checked(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _config("x.sqlite3", tmp_path, page_call_after_seconds=100, page_calls=2)
    assert "lines.qdn.page_call_after_seconds" in str(caught.value)
    assert "ack_seconds = 120" in str(caught.value) and "Fix:" in str(caught.value)
    with pytest.raises(ConfigError, match="page_call_after_seconds"):
        parse_config({"service": {"database": "x"},
                      "responders": {"s": {"name": "S", "phone": SERGIO}},
                      "lines": {"q": {"name": "Q", "number": LINE, "tiers": ["s"],
                                      "page_calls": 2}}}, tmp_path / "ivr.toml")
    with pytest.raises(ConfigError, match="responders.s.phone_pages: must be true or false"):
        parse_config({"service": {"database": "x"},
                      "responders": {"s": {"name": "S", "phone": SERGIO, "phone_pages": "no"}},
                      "lines": {"q": {"name": "Q", "number": LINE, "tiers": ["s"]}}},
                     tmp_path / "ivr.toml")


async def test_local_mode_shows_a_phone_page_and_simulate_answers_it(tmp_path):
    """As the README's local mode: a text, the fake Twilio printing the
    call, and `ivr simulate answer-page --press 1` taking the conversation."""
    import subprocess
    import sys

    from .support.harness import REPO
    from .support.processes import clean_environ, free_port, stop, wait_until_healthy

    text = (REPO / "examples" / "phone-pages.toml").read_text("utf-8")
    config = tmp_path / "phone-pages.toml"
    config.write_text(text.replace("page_call_after_seconds = 30", "page_call_after_seconds = 10"))
    port = free_port()
    env = clean_environ(IVR_DATABASE=str(tmp_path / "phone-pages.sqlite3"))
    server = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(config), "--bind",
         f"127.0.0.1:{port}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)

    def simulate(*args):
        return subprocess.run([sys.executable, "-m", "ivr", "simulate", "--config", str(config),
                               *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=30)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", server)
        early = simulate("answer-page")
        assert early.returncode == 2 and "no phone page has been placed" in early.stderr
        assert simulate("text", "--from", CUSTOMER, "The bin is on fire").returncode == 0
        await asyncio.sleep(11)
        answered = simulate("answer-page", "--press", "1")
        assert answered.returncode == 0, answered.stderr
    finally:
        _, out, err = stop(server)
    assert "phoning Sergio" in out, out
    assert "they hear: This is Quick Dump Now. +1 619-555-0142 is waiting" in answered.stdout
    assert "they press 1" in answered.stdout and "It is yours" in answered.stdout
    assert "Sergio is on it" in out      # the customer's text, printed by the fake Twilio


# -- a failed forward to the owner: the owner is phoned first (issue 15, item 4) ----------

async def _owned_then_relay_fails(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="The bin is on fire")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    await harness.deliver_outbox()
    harness.clock.advance(60)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="It is spreading")
    await harness.deliver_outbox()
    relay = harness.fake.messages_to(SERGIO)[-1]
    assert relay.body.endswith("It is spreading")
    await harness.twilio.message_status(message_sid=relay.sid, to=SERGIO, from_=LINE,
                                        status="undelivered", error_code="30003")
    assert await harness.services.phone_pager.place_due() == 1
    [placed] = harness.fake.calls
    assert placed.to == SERGIO
    return PhonePage(harness, placed)


async def test_a_failed_forward_phones_the_owner_who_keeps_it_with_1(phoning):
    phone = await _owned_then_relay_fails(phoning)
    kinds = await _kinds(phoning)
    assert "owner_phoned" in kinds and "returned_to_cascade" not in kinds
    spoken = await phone.answer()
    assert "could not reach your phone. It says: It is spreading" in spoken.words
    assert "Press 1 to keep it" in spoken.words
    kept = await phone.press(spoken, "1")
    assert "still yours" in kept.words
    await phone.ended()
    conversation = await phoning.store.read(lambda tx: tx.conversation(1))
    assert conversation.owner == "sergio"
    kinds = await _kinds(phoning)
    assert "owner_kept" in kinds and "returned_to_cascade" not in kinds


async def test_a_failed_forward_whose_owner_does_not_answer_goes_back_to_the_cascade(phoning):
    phone = await _owned_then_relay_fails(phoning)
    await phone.ended("no-answer")
    conversation = await phoning.store.read(lambda tx: tx.conversation(1))
    assert conversation.owner is None
    [returned] = [d for d in await phoning.decisions() if d.kind == "returned_to_cascade"]
    assert "did not" not in returned.reason and "no-answer" in returned.reason
    await phoning.deliver_outbox()
    assert phoning.fake.messages_to(SERGIO)[-1].body.endswith("reply ACK to take it")
    # A second report of the same failure phones nobody again.
    assert await phoning.services.phone_pager.place_due() == 0


async def test_a_failed_forward_whose_owner_is_voicemail_goes_back_to_the_cascade(phoning):
    phone = await _owned_then_relay_fails(phoning)
    silence = await phone.press(await phone.answer(), "")
    assert silence.hangs_up and "goes back to the others" in silence.words
    await phone.ended()
    assert (await phoning.store.read(lambda tx: tx.conversation(1))).owner is None
    assert (await _kinds(phoning)).count("returned_to_cascade") == 1


def test_ivr_check_says_when_a_line_phones(clean_env):
    from .support.cli import run
    from .support.harness import REPO
    code, out, err = run("check", "--config", str(REPO / "examples" / "phone-pages.toml"))
    assert code == 0, err
    assert ("phone pages: whoever is paged and has not ACKed is phoned 30 s and 75 s after "
            "the text") in out

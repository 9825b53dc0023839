"""The voicemail prompt (issue 15, item 2, the parts still missing): a
caller who hangs up there before recording anything is a missed call, and
a caller can press a key to be texted back instead of leaving a message.
Before: a hang-up during the prompt paged nobody and texted nobody."""

import asyncio
import re
import subprocess
import sys

import pytest

from ivr.config import ConfigError, load_config
from ivr.voice.voicemail_prompt import prompt_step

from .support.call_simulator import SILENCE, CallSimulator
from .support.harness import (
    BACKUP,
    CUSTOMER,
    EXAMPLE_CONFIG,
    LINE,
    REPO,
    SERGIO,
    Harness,
    open_harness,
)
from .support.processes import clean_environ, free_port, stop, wait_until_healthy

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

MISSED_PAGE = ("[QDN #1] missed call from +1 619-555-0142 at TIME; they were texted to "
               "reply - reply ACK 1 to take it")
TEXT_BACK = ("Sorry we missed your call to Quick Dump Now. Reply to this text and we will get "
             "back to you here.")
PROMPT = "leave a message after the tone"


def call(harness: Harness, caller: str = CUSTOMER, **script) -> CallSimulator:
    # Nobody answers: every tier rings out, then the voicemail prompt.
    return CallSimulator(harness.twilio, caller=caller, line_number=LINE, legs={}, **script)


async def sent(harness: Harness, to: str) -> list[str]:
    await harness.deliver_outbox()
    return [re.sub(r" at \d\d?:\d\d \w+", " at TIME", m.body)
            for m in harness.fake.messages_to(to)]


async def kinds(harness: Harness) -> list[str]:
    return [d.kind for d in await harness.decisions()]


async def repost(harness: Harness, sim: CallSimulator, *paths: str) -> None:
    """Twilio retries these requests (same parameters, same signature rules)."""
    for exchange in sim.transcript.exchanges:
        if exchange.path.split("?", 1)[0] in paths:
            response = await harness.twilio.post(exchange.path, exchange.params)
            assert response.status == 200


async def test_a_caller_hanging_up_during_the_voicemail_prompt_is_a_missed_call(harness):
    sim = call(harness, hang_up_when_hearing=PROMPT, status_callback_path="/voice/status")
    transcript = await sim.run()
    assert transcript.ended == "caller-hung-up" and not transcript.recordings
    [missed] = [d for d in await harness.decisions() if d.kind == "missed_call"]
    assert "hung up during the voicemail prompt" in missed.reason
    for responder in (SERGIO, BACKUP):
        assert await sent(harness, responder) == [MISSED_PAGE]
    assert await sent(harness, CUSTOMER) == [TEXT_BACK]
    # Twilio retries the status callback: nothing more.
    await repost(harness, sim, "/voice/status")
    assert (await kinds(harness)).count("missed_call") == 1
    assert len(await sent(harness, CUSTOMER)) == 1


@pytest.mark.parametrize("order", ["status first", "recording first"])
async def test_a_hang_up_at_the_beep_is_one_missed_call_whatever_the_order(harness, order):
    # The caller hears the prompt out, then hangs up at the beep: the Record is empty.
    sim = call(harness, voicemail=None,
               status_callback_path="/voice/status" if order == "status first" else None)
    transcript = await sim.run()
    assert [r.text for r in transcript.recordings] == [None]
    assert "voicemail_recording" in await kinds(harness)
    if order == "status first":
        # Past the prompt, the status callback alone does not decide: a
        # recording may still come.
        assert "missed_call" not in await kinds(harness)
    await sim.deliver_recording()
    # Every callback retried, the status callback last (or again), and the
    # Record action Twilio documents it does not send for an empty recording.
    await harness.twilio.post("/voice/status", [*transcript.exchanges[0].params[:-1]])
    await repost(harness, sim, "/voice/recording", "/voice/status", "/voice/voicemail-prompt")
    await harness.twilio.post("/voice/voicemail-done", [
        *transcript.exchanges[0].params, ("RecordingDuration", "0"), ("Digits", "hangup")])
    decided = await kinds(harness)
    assert decided.count("missed_call") == 1 and "voicemail_received" not in decided
    assert await sent(harness, SERGIO) == [MISSED_PAGE]
    assert await sent(harness, CUSTOMER) == [TEXT_BACK]


async def test_a_record_action_without_audio_is_a_missed_call_before_any_callback(harness):
    sim = call(harness, voicemail=SILENCE)
    transcript = await sim.run()
    caller = transcript.exchanges[0].params
    answer = await harness.twilio.post("/voice/voicemail-done", [
        *caller, ("RecordingSid", "RE0"), ("RecordingDuration", "0"), ("Digits", "hangup")])
    assert answer.status == 200
    await sim.deliver_recording()
    [missed] = [d for d in await harness.decisions() if d.kind == "missed_call"]
    assert "left no message" in missed.reason
    assert await sent(harness, CUSTOMER) == [TEXT_BACK]


async def test_a_message_left_is_no_missed_call_even_if_the_status_callback_comes_first(harness):
    sim = call(harness, status_callback_path="/voice/status")
    await sim.run()
    assert "missed_call" not in await kinds(harness)
    await sim.deliver_recording()
    decided = await kinds(harness)
    assert "voicemail_received" in decided and "missed_call" not in decided
    assert await sent(harness, CUSTOMER) == []


TEXT_BACK_PAGE = ("[QDN #1] +1 619-555-0142 called at TIME and asked to be texted back; they "
                  "were texted to reply - reply ACK 1 to take it")


async def test_pressing_1_at_the_prompt_texts_the_caller_back(harness):
    sim = call(harness, caller_input=["1"], status_callback_path="/voice/status")
    transcript = await sim.run()
    assert transcript.heard[-3:] == [
        ("Sorry, nobody could take your call. Please leave a message after the tone, and we "
         "will get back to you."),
        "Or press 1, and we will text you back instead.",
        "Thank you. We will text you back at this number shortly. Goodbye."]
    assert ("caller", "digits", "1") in transcript.events
    assert transcript.ended == "hangup" and not transcript.recordings
    [asked] = [d for d in await harness.decisions() if d.kind == "text_back_requested"]
    assert "pressed 1 at the voicemail prompt" in asked.reason
    [missed] = [d for d in await harness.decisions() if d.kind == "missed_call"]
    assert "to be texted back" in missed.reason and missed.conversation_id == 1
    for responder in (SERGIO, BACKUP):
        assert await sent(harness, responder) == [TEXT_BACK_PAGE]
    assert await sent(harness, CUSTOMER) == [TEXT_BACK]
    # Twilio retries the Gather action and the status callback: the same
    # goodbye, nothing sent again.
    for exchange in transcript.exchanges:
        if exchange.path.startswith("/voice/voicemail-prompt"):
            again = await harness.twilio.post(exchange.path, exchange.params)
            assert again.body == exchange.body
    await repost(harness, sim, "/voice/status")
    assert (await kinds(harness)).count("missed_call") == 1
    assert len(await sent(harness, CUSTOMER)) == 1 and len(await sent(harness, SERGIO)) == 1
    # ACK takes it; the owner's reply reaches the caller from the line.
    reply = await harness.twilio.text(from_=BACKUP, to=LINE, body="ACK")
    assert reply.messages()[0].startswith("[QDN #1] is yours")
    await harness.twilio.text(from_=BACKUP, to=LINE, body="Hi, Backup here. What's up?")
    assert (await sent(harness, CUSTOMER))[-1] == "Hi, Backup here. What's up?"


async def test_the_prompt_offers_the_key_and_another_key_still_records(harness):
    sim = call(harness, caller_input=["5"])
    transcript = await sim.run()
    assert "Or press 1, and we will text you back instead." in transcript.heard
    assert transcript.recorded
    await sim.deliver_recording()
    decided = await kinds(harness)
    assert "voicemail_received" in decided and "text_back_requested" not in decided
    [recording] = [d for d in await harness.decisions() if d.kind == "voicemail_recording"]
    assert "pressed 5" in recording.reason


async def test_a_caller_with_no_number_pressing_1_is_recorded_instead(harness):
    sim = call(harness, caller="anonymous", caller_input=["1"])
    transcript = await sim.run()
    assert ("Sorry, we cannot text you back: your number is hidden. Please leave a message "
            "after the tone.") in transcript.heard
    assert transcript.recorded and "text_back_requested" not in await kinds(harness)


async def test_an_opted_out_caller_pressing_1_is_paged_but_not_texted(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="STOP")
    await call(harness, caller_input=["1"]).run()
    assert await sent(harness, SERGIO) == [TEXT_BACK_PAGE]
    assert await sent(harness, CUSTOMER) == []
    assert "send_suppressed" in await kinds(harness)


async def test_a_text_back_a_landline_cannot_take_is_logged_not_retried(harness):
    await call(harness, caller_input=["1"]).run()
    await harness.deliver_outbox()
    [text_back] = harness.fake.messages_to(CUSTOMER)
    await harness.twilio.message_status(message_sid=text_back.sid, to=CUSTOMER, from_=LINE,
                                        status="undelivered", error_code="30006")
    harness.clock.advance(600)
    await harness.deliver_outbox()
    assert len(harness.fake.messages_to(CUSTOMER)) == 1
    decided = await kinds(harness)
    assert "delivery_failed" in decided and "returned_to_cascade" not in decided


async def test_the_key_and_the_words_are_the_lines_own(database, fake_twilio, tmp_path):
    spanish = tmp_path / "ivr.toml"
    spanish.write_text(EXAMPLE_CONFIG.read_text("utf-8").replace(
        "call_deadline_seconds = 300", 'call_deadline_seconds = 300\ntext_back_key = "9"') + """
voicemail_prompt = "Nadie pudo atender su llamada. Deje un mensaje después del tono."
voicemail_text_back_offer = "O marque {{ key }} y le enviaremos un mensaje de texto."
text_back_goodbye = "Gracias. Le escribiremos pronto a este número. Adiós."
text_back_page = "[{{ line_code }} #{{ code }}] {{ customer }} llamó ({{ time }}) - ACK {{ code }}"
missed_call_text = "Perdón por no atenderle en {{ line }}. Responda a este mensaje."
""", "utf-8")
    config = load_config(spanish, database_override=database)
    assert config.lines["qdn"].text_back_key == "9"
    async with open_harness(config, fake_twilio) as harness:
        transcript = await call(harness, caller_input=["9"]).run()
        assert "O marque 9 y le enviaremos un mensaje de texto." in transcript.heard
        assert transcript.heard[-1] == "Gracias. Le escribiremos pronto a este número. Adiós."
        await harness.deliver_outbox()
        [page] = harness.fake.messages_to(SERGIO)
        assert re.fullmatch(r"\[QDN #1\] \+1 619-555-0142 llamó \(\d\d?:\d\d \w+\) - ACK 1",
                            page.body)
        assert await sent(harness, CUSTOMER) == [
            "Perdón por no atenderle en Quick Dump Now. Responda a este mensaje."]


@pytest.mark.parametrize("value", ["#", "12", 1])
def test_a_text_back_key_that_cannot_be_pressed_is_refused(tmp_path, value):
    bad = tmp_path / "ivr.toml"
    bad.write_text(EXAMPLE_CONFIG.read_text("utf-8").replace(
        "call_deadline_seconds = 300",
        f"call_deadline_seconds = 300\ntext_back_key = {value!r}".replace("'", '"')), "utf-8")
    with pytest.raises(ConfigError, match="lines.qdn.text_back_key"):
        load_config(bad)


async def test_an_empty_text_back_key_offers_nothing(database, fake_twilio, tmp_path):
    plain = tmp_path / "ivr.toml"
    plain.write_text(EXAMPLE_CONFIG.read_text("utf-8").replace(
        "call_deadline_seconds = 300", 'call_deadline_seconds = 300\ntext_back_key = ""'),
        "utf-8")
    async with open_harness(load_config(plain, database_override=database),
                            fake_twilio) as harness:
        transcript = await call(harness, caller_input=["1"]).run()
        assert not any("text you back" in said for said in transcript.heard)
        assert transcript.recorded


async def test_ivr_simulate_hangs_up_and_asks_for_a_text_back_in_local_mode(tmp_path):
    """`ivr simulate call` against the real service in local mode: the
    README's commands, and what each prints."""
    port = free_port()
    env = clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(EXAMPLE_CONFIG),
         "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def simulate_call(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "ivr", "simulate", "--config",
                               str(EXAMPLE_CONFIG), "call", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
        mid_ring = simulate_call("--from", "+16195550145", "--hang-up-after", "10")
        assert "caller hangs up after 10 s of ringing" in mid_ring
        at_prompt = simulate_call("--from", "+16195550146", "--hang-up-at-prompt")
        assert ("line says: [Polly.Joanna-Neural en-US] Or press 1, and we will text you back"
                " instead.") in at_prompt
        assert "caller hangs up during the voicemail prompt" in at_prompt
        text_back = simulate_call("--from", "+16195550147", "--text-back")
        assert "caller presses 1 to be texted back" in text_back
        assert ("line says: [Polly.Joanna-Neural en-US] Thank you. We will text you back at"
                " this number shortly. Goodbye.") in text_back
        await asyncio.sleep(1.0)   # the outbox sends, the fake prints
    finally:
        code, out, err = stop(process)
    assert code == 0, err
    for caller in ("+1 619-555-0145", "+1 619-555-0146"):
        assert f"missed call from {caller} at" in out
    assert "+1 619-555-0147 called at" in out and "asked to be texted back" in out
    assert out.count("Sorry we missed your call to Quick Dump Now.") == 3


@pytest.mark.parametrize(("digits", "key", "textable", "status", "step"), [
    ("1", "1", True, "voicemail", "text_back"),
    ("1", "1", False, "voicemail", "no_number"),
    ("", "1", True, "voicemail", "record"),
    ("2", "1", True, "voicemail", "record"),
    ("1", "", True, "voicemail", "record"),        # the line offers no text-back
    ("1", "1", True, "ringing", "text_back"),       # state lost to a failure: still a prompt
    ("1", "1", True, "ended", "gone"),
    ("", "1", True, "connected", "gone"),
])
def test_the_prompts_next_step(digits, key, textable, status, step):
    assert prompt_step(digits, key, textable, status) == step

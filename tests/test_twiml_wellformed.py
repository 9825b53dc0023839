"""Every TwiML document is well-formed XML whatever text goes into it,
including characters XML 1.0 cannot carry at all (control characters,
U+FFFE/U+FFFF, lone surrogates). Above all the answer that carries a text
on when the store cannot write: it is the text's only way to anyone."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.conversations.commands import customer_keyword
from ivr.speech import Spoken
from ivr.store import Store
from ivr.twiml import render

from .support.harness import CUSTOMER, LINE, SERGIO, LoopedService
from .support.twiml_check import check_twiml

# The bodies that made unparseable TwiML in issue 14, and their cousins.
FORBIDDEN = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\ufffe", "\uffff"]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]

# Any text at all, with the forbidden characters (and markup) made common.
ANY_TEXT = st.text(st.one_of(
    st.sampled_from(FORBIDDEN + SURROGATES + ["<", "&", "]", ">", '"', "'", "\r", "\t"]),
    st.characters()), max_size=60)
# What can arrive in a form: UTF-8 cannot carry a lone surrogate.
FORM_TEXT = st.text(st.one_of(
    st.sampled_from(FORBIDDEN + ["<", "&", "]", ">", '"', "\r"]),
    st.characters(blacklist_categories=("Cs",))), max_size=60)


def parse(document: str) -> ET.Element:
    # As it goes on the wire: the response body is UTF-8.
    return ET.fromstring(document.encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(text=ANY_TEXT)
def test_every_template_renders_well_formed_twiml_whatever_the_text(text):
    url = "https://ivr.example.com/voice/x?a=" + text
    documents = {
        "sms_unrecorded.xml": render("sms_unrecorded.xml",
                                     messages=[(SERGIO, text), (text, text), (None, text)]),
        "sms_reply.xml": render("sms_reply.xml", message=text),
        "voice_say.xml": render("voice_say.xml", say=[text, text], hangup=True),
        "voice_dial.xml": render("voice_dial.xml", say=text, timeout=text, caller_id=text,
                                 action=url, numbers=[{"url": url, "phone": text}]),
        "voice_menu.xml": render("voice_menu.xml", say=text, prompt=text, hints=text,
                                 language=text, action=url),
        # What a line speaks: a voice, a language and the words, any of them
        # from a config; or a recording's URL.
        "voice_say.xml spoken": render("voice_say.xml", hangup=False, say=[
            Spoken(text, text, text), Spoken(text, text, text, play=url)]),
        "voice_voicemail.xml": render("voice_voicemail.xml", apology=text, prompt=text,
                                      offer=text, action=url),
        "voice_record.xml": render("voice_record.xml", say=text, nothing=text,
                                   max_length=text, action=url, recording_callback=url,
                                   transcription_callback=url),
        "voice_whisper.xml": render("voice_whisper.xml", prompt=text, action=url),
    }
    for name, document in documents.items():
        try:
            root = parse(document)
        except (ET.ParseError, UnicodeEncodeError) as error:
            raise AssertionError(f"{name} is not well-formed for {text!r}: {error}") from None
        assert root.tag == "Response", name
    # Each forbidden character became U+FFFD; everything else is as it was.
    said = parse(documents["sms_reply.xml"]).find("Message")
    if text:
        assert said is not None and said.text == expected(text)
        spoken, played = parse(documents["voice_say.xml spoken"])
        assert spoken.text == expected(text) and spoken.get("voice") is not None
        assert played.tag == "Play" and played.text == expected(url)


def expected(text: str) -> str:
    def allowed(c: str) -> bool:
        code = ord(c)
        return (c in "\t\n\r" or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
                or code >= 0x10000)
    kept = "".join(c if allowed(c) else "\ufffd" for c in text)
    return kept.replace("\r\n", "\n").replace("\r", "\n")   # as any XML parser reads it


async def failing_write(self, fn):
    raise sqlite3.OperationalError("disk I/O error")


def carried(root: ET.Element) -> list[tuple[str | None, str]]:
    return [(m.get("to"), m.text or "") for m in root.iter("Message")]


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x0b", "\x1b", "\uffff", "ok\x7f\x85"])
async def test_a_text_the_store_cannot_write_is_carried_in_well_formed_twiml(
        harness, monkeypatch, bad):
    monkeypatch.setattr(Store, "write", failing_write)
    body = f"Dumpster{bad} is on fire {bad}<now>&"
    response = await harness.twilio.text(from_=CUSTOMER, to=LINE, body=body)
    assert response.status == 200
    root = check_twiml(response.body, messaging=True)   # parses it: well-formed or fails
    messages = carried(root)
    assert [to for to, _ in messages] == [SERGIO, None]
    page = messages[0][1]
    assert "is on fire" in page and "<now>&" in page
    assert bad not in page or bad == "ok\x7f\x85"   # U+007F and U+0085 are XML characters
    assert messages[1][1] == "Thanks, we got your message. Sergio will reply shortly."


class FailingService(LoopedService):
    """One app for all examples, its store refusing every write."""

    def text(self, **params):
        self.store.write = failing_write.__get__(self.store)
        try:
            return self.run(self.driver.text(**params))
        finally:
            del self.store.write


@pytest.fixture(scope="module")
def failing_service(tmp_path_factory):
    service = FailingService(tmp_path_factory.mktemp("failing"))
    yield service
    service.close()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=FORM_TEXT, from_responder=st.booleans())
def test_whatever_a_text_says_its_unrecorded_answer_is_well_formed(failing_service, body,
                                                                    from_responder):
    response = failing_service.text(from_=SERGIO if from_responder else CUSTOMER, to=LINE,
                                    body=body)
    assert response.status == 200, response.body
    root = check_twiml(response.body, messaging=True)
    targets = [to for to, _ in carried(root)]
    if from_responder:
        assert targets == [None]
    elif customer_keyword(body) in ("opt_out", "opt_in"):
        assert targets == []   # Twilio answers STOP and START itself
    else:
        assert targets == [SERGIO] * (len(targets) - 1) + [None] and len(targets) >= 2

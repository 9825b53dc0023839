"""The TwiML checker itself: it accepts what twilio-python builds, refuses what
Twilio would ignore or misread, and its table matches twilio's classes."""

from __future__ import annotations

import re

import pytest
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from .support.twiml_check import check_twiml, element_spec

BASE = "https://ivr.example.com"
LINE = "+16195550100"
SERGIO = "+16195550101"
BACKUP = "+16195550102"


# --- the table read from twilio's classes -------------------------------------

@pytest.mark.parametrize("path, text, some_attributes, children", [
    ((), None, set(), {"Dial", "Gather", "Say", "Play", "Record", "Redirect", "Hangup",
                       "Pause"}),
    (("Dial",), "number", {"action", "method", "timeout", "callerId", "answerOnBridge",
                           "timeLimit", "recordingStatusCallback"}, {"Number", "Client", "Sip"}),
    (("Dial", "Number"), "phone_number", {"url", "method", "sendDigits",
                                          "statusCallbackEvent", "statusCallback"}, set()),
    (("Gather",), None, {"input", "numDigits", "action", "method", "timeout",
                         "actionOnEmptyResult", "speechTimeout"}, {"Say", "Play", "Pause"}),
    (("Gather", "Say"), "message", {"voice", "loop", "language"}, {"break", "say-as"}),
    (("Say",), "message", {"voice", "loop", "language"}, {"break", "say-as", "lang"}),
    (("Play",), "url", {"loop", "digits"}, set()),
    (("Record",), None, {"maxLength", "recordingStatusCallback", "transcribe",
                         "transcribeCallback", "playBeep", "finishOnKey"}, set()),
    (("Redirect",), "url", {"method"}, set()),
    (("Hangup",), None, set(), {"Parameter"}),
    (("Pause",), None, {"length"}, set()),
])
def test_voice_table(path, text, some_attributes, children):
    spec = element_spec(*path)
    assert spec.text == text
    assert some_attributes <= spec.attributes
    assert children <= set(spec.children)
    # The text parameter is never also an attribute, and no Python spelling leaks.
    assert text not in spec.attributes
    assert not any("_" in name for name in spec.attributes)


def test_gather_and_hangup_children_are_exactly_twilios():
    assert set(element_spec("Gather").children) == {"Say", "Play", "Pause"}
    assert set(element_spec("Hangup").children) == {"Parameter"}
    assert set(element_spec("Pause").children) == set()


@pytest.mark.parametrize("tag", ["Number", "Message", "Client", "Body", "Media"])
def test_nouns_and_messaging_verbs_are_not_voice_verbs(tag):
    assert tag not in element_spec().children


def test_messaging_table():
    assert set(element_spec(messaging=True).children) == {"Message", "Redirect"}
    message = element_spec("Message", messaging=True)
    assert message.text == "body"
    # from_ -> from is one of twilio's special renames.
    assert message.attributes == {"to", "from", "action", "method", "statusCallback"}
    assert set(message.children) == {"Body", "Media"}
    assert element_spec("Message", "Media", messaging=True).text == "url"


def test_special_attribute_renames():
    assert element_spec("Say", "lang").attributes == {"xml:lang"}
    assert element_spec("Say", "say-as").attributes == {"interpret-as", "format"}
    assert "url" not in element_spec("Play").attributes  # Play's URL is its text


# --- documents twilio-python builds are accepted -----------------------------

def _dial() -> str:
    response = VoiceResponse()
    dial = response.dial(answer_on_bridge=True, caller_id=LINE, timeout=20,
                         action=f"{BASE}/voice/dial-action?tier=0", method="POST")
    dial.number(SERGIO, url="/voice/whisper?tier=0", method="POST")
    dial.number(BACKUP, url=f"{BASE}/voice/whisper?tier=0")
    return str(response)


def _gather() -> str:
    response = VoiceResponse()
    gather = response.gather(input="dtmf speech", num_digits=1, action="/voice/menu",
                             timeout=5, action_on_empty_result=False)
    gather.say("Press 1 to take this call.", voice="Polly.Joanna", loop=2)
    gather.pause(length=1)
    response.redirect("/voice/incoming", method="POST")
    return str(response)


def _record() -> str:
    response = VoiceResponse()
    response.say("Nobody is available. Leave a message after the beep.")
    response.record(max_length=120, recording_status_callback=f"{BASE}/voice/recording",
                    transcribe=True, transcribe_callback="/voice/transcription",
                    play_beep=True, finish_on_key="#", timeout=5)
    response.hangup()
    return str(response)


def _ssml() -> str:
    response = VoiceResponse()
    say = response.say("Hello", language="en-US")
    say.break_(time="500ms")
    say.lang("bonjour", xml_lang="fr-FR")
    say.say_as("12345", interpret_as="digits")
    return str(response)


@pytest.mark.parametrize("build", [_dial, _gather, _record, _ssml])
def test_accepts_voice_documents_built_by_twilio(build):
    root = check_twiml(build())
    assert root.tag == "Response"


def test_returns_the_parsed_root():
    root = check_twiml(_dial())
    numbers = root.findall("Dial/Number")
    assert [n.text for n in numbers] == [SERGIO, BACKUP]
    assert root.find("Dial").get("answerOnBridge") == "true"


def test_accepts_a_message():
    response = MessagingResponse()
    response.message("Thanks, we got your message.", to="+16195550142",
                               from_=LINE, action=f"{BASE}/sms/status")
    root = check_twiml(str(response), messaging=True)
    assert root.find("Message").get("from") == LINE
    response = MessagingResponse()
    message = response.message()
    message.body("See the picture.")
    message.media("https://example.com/cat.jpg")
    check_twiml(str(response), messaging=True)


def test_accepts_whisper_and_a_document_without_declaration():
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action="/voice/accept?tier=0")
    gather.say("Customer call on the support line. Press 1 to accept.")
    response.hangup()
    check_twiml(str(response), whisper=True)
    check_twiml(response.to_xml(xml_declaration=False), whisper=True)
    check_twiml("<Response/>")


# --- documents Twilio would refuse or misread are rejected -------------------

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


@pytest.mark.parametrize("document, complaint", [
    pytest.param(f"{DECLARATION}<Response><Say>hi</Response>", "not well-formed",
                 id="malformed"),
    pytest.param(f"{DECLARATION}<Response/><Response/>", "not well-formed",
                 id="two-roots"),
    pytest.param(f" {DECLARATION}<Response/>", "not well-formed",
                 id="space-before-declaration"),
    pytest.param(f"OK{DECLARATION}<Response/>", "not well-formed",
                 id="text-before-declaration"),
    pytest.param(f"{DECLARATION}<Reponse><Say>hi</Say></Reponse>", "root must be <Response>",
                 id="wrong-root"),
    pytest.param(f"{DECLARATION}<Response><Number>{SERGIO}</Number></Response>",
                 "<Number> is not allowed inside <Response>", id="number-at-top-level"),
    pytest.param(f"{DECLARATION}<Response><Message>hi</Message></Response>",
                 "<Message> is not allowed inside <Response>", id="message-in-voice"),
    pytest.param(f"{DECLARATION}<Response><Gather><Dial>{SERGIO}</Dial></Gather></Response>",
                 "<Dial> is not allowed inside <Gather>", id="dial-in-gather"),
    pytest.param(f'{DECLARATION}<Response><Dial answerOnbridge="true">'
                 f"<Number>{SERGIO}</Number></Dial></Response>",
                 "unknown attribute 'answerOnbridge'", id="attribute-typo"),
    pytest.param(f'{DECLARATION}<Response><Dial answer_on_bridge="true">{SERGIO}</Dial></Response>',
                 "unknown attribute 'answer_on_bridge'", id="python-spelling"),
    pytest.param(f'{DECLARATION}<Response><Play url="https://x.example/a.mp3"/></Response>',
                 "unknown attribute 'url'", id="play-url-is-text"),
    pytest.param(f'{DECLARATION}<Response><Redirect method="PUT">/voice/incoming'
                 "</Redirect></Response>", "method='PUT' must be GET or POST", id="bad-method"),
    pytest.param(f'{DECLARATION}<Response><Dial><Number statusCallbackMethod="post">'
                 f"{SERGIO}</Number></Dial></Response>", "must be GET or POST",
                 id="bad-callback-method"),
    pytest.param(f"{DECLARATION}<Response><Dial><Number>619-555-0101</Number></Dial></Response>",
                 "not an E.164 number", id="number-not-e164"),
    pytest.param(f"{DECLARATION}<Response><Dial><Number>+1234567</Number></Dial></Response>",
                 "not an E.164 number", id="number-too-short"),
    pytest.param(f'{DECLARATION}<Response><Dial timeout="20s">{SERGIO}</Dial></Response>',
                 "timeout='20s' must be a non-negative integer", id="timeout-not-integer"),
    pytest.param(f'{DECLARATION}<Response><Say loop="-1">hi</Say></Response>',
                 "must be a non-negative integer", id="negative-loop"),
    pytest.param(f'{DECLARATION}<Response><Dial answerOnBridge="True">{SERGIO}</Dial></Response>',
                 'must be "true" or "false"', id="boolean-capitalised"),
    pytest.param(f'{DECLARATION}<Response><Gather action="ftp://x.example/menu"/></Response>',
                 "is not an absolute http/https URL", id="action-bad-scheme"),
    pytest.param(f'{DECLARATION}<Response><Record transcribeCallback="/voice/t x"/></Response>',
                 "is not a URL", id="url-with-space"),
    pytest.param(f"{DECLARATION}<Response><Redirect></Redirect></Response>",
                 "is not a URL", id="redirect-empty"),
    pytest.param(f"{DECLARATION}<Response><Redirect>mailto:ops@example.com</Redirect></Response>",
                 "is not an absolute http/https URL", id="redirect-not-http"),
    pytest.param(f"{DECLARATION}<Response>Thanks!<Hangup/></Response>",
                 "<Response> takes no text", id="stray-text"),
    # Voices and languages, against the table Twilio documents (ivr/twilio_voices.py)
    pytest.param(f'{DECLARATION}<Response><Say voice="Polly.Lupe" language="en-US">hi</Say>'
                 "</Response>", "voice 'Polly.Lupe' does not speak 'en-US'", id="voice-language"),
    pytest.param(f'{DECLARATION}<Response><Say voice="Polly.Nobody">hi</Say></Response>',
                 "is not a voice Twilio documents", id="unknown-voice"),
    pytest.param(f'{DECLARATION}<Response><Say language="es">hi</Say></Response>',
                 "is not a language Twilio's <Say> speaks", id="say-language-without-region"),
    pytest.param(f'{DECLARATION}<Response><Gather input="speech" language="en"/></Response>',
                 "warning 13512", id="gather-language"),
    pytest.param(f"{DECLARATION}<Response><Play>greeting.mp3 x</Play></Response>",
                 "is not a URL", id="play-not-a-url"),
])
def test_rejects(document, complaint):
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        check_twiml(document)


@pytest.mark.parametrize("verb", ["Dial", "Redirect", "Record", "Pause"])
def test_whisper_allows_only_say_play_gather_hangup(verb):
    response = VoiceResponse()
    response.say("Customer call.")
    {"Dial": lambda: response.dial(SERGIO),
     "Redirect": lambda: response.redirect("/voice/incoming"),
     "Record": lambda: response.record(max_length=30),
     "Pause": lambda: response.pause(length=1)}[verb]()
    document = str(response)
    check_twiml(document)  # fine as ordinary voice TwiML
    with pytest.raises(AssertionError, match=f"<{verb}> is not allowed inside <Response>"):
        check_twiml(document, whisper=True)


def test_messaging_rejects_voice_verbs():
    with pytest.raises(AssertionError, match="<Say> is not allowed inside <Response>"):
        check_twiml("<Response><Say>hi</Say></Response>", messaging=True)
    with pytest.raises(AssertionError, match="unknown attribute 'from_'"):
        check_twiml('<Response><Message from_="+16195550100">hi</Message></Response>',
                    messaging=True)


def test_every_problem_is_reported_at_once_with_its_path():
    document = (f'<Response><Dial answerOnbridge="true"><Number>{SERGIO}</Number>'
                '<Number url="/w" method="PUT">555</Number></Dial></Response>')
    with pytest.raises(AssertionError) as raised:
        check_twiml(document)
    message = str(raised.value)
    assert "Response/Dial[1]: unknown attribute 'answerOnbridge'" in message
    assert "Response/Dial[1]/Number[2]: method='PUT' must be GET or POST" in message
    assert "Response/Dial[1]/Number[2]: text '555' is not an E.164 number" in message


def test_whisper_and_messaging_together_is_a_usage_error():
    with pytest.raises(ValueError):
        check_twiml("<Response/>", whisper=True, messaging=True)

"""A line's languages: voices checked against Twilio's table at start, the
Spanish wording shipped for every key, and a bilingual line
(examples/bilingual.toml) walked end to end: an English and a Spanish call
through the menu, Dial, whisper and voicemail, and a Spanish texter through
the ack, escalation, the owner's reply and close, with no English sentence
reaching the Spanish customer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from ivr.config import ConfigError, load_config, parse_config
from ivr.conversations.wording import Audience, message
from ivr.default_wording import (
    COMMON_VARIABLES,
    DEFAULT_MESSAGES,
    MESSAGE_SAMPLE,
    MESSAGE_VARIABLES,
    SPOKEN_KEYS,
)
from ivr.default_wording_es import SPANISH_MESSAGES
from ivr.line_languages import shipped_messages
from ivr.twilio_voices import DEFAULT_VOICE, GATHER_LANGUAGE_OF, GATHER_LANGUAGES, VOICES

from .support.call_simulator import ANSWER_AND_PRESS, NO_ANSWER, CallSimulator
from .support.harness import REPO
from .support.processes import clean_environ, free_port, stop, wait_until_healthy

BILINGUAL = REPO / "examples" / "bilingual.toml"
LINE, SERGIO, ANA, CUSTOMER = "+16195550180", "+16195550101", "+16195550102", "+16195550142"
SPANISH = ("Polly.Lupe-Neural", "es-US")
ENGLISH = ("Polly.Joanna-Neural", "en-US")
# Words of the line's English wording that no Spanish sentence holds.
ENGLISH_WORDS = re.compile(r"\b(the|you|your|we|please|thanks|thank|sorry|goodbye|call|press"
                           r"|message|reply|text|hours|someone)\b", re.IGNORECASE)

_env = SandboxedEnvironment(undefined=StrictUndefined)


def spanish(name: str, **variables) -> str:
    return _env.from_string(SPANISH_MESSAGES[name]).render(
        line="San Diego Disposal", line_code="SDD", **variables)


# -- the wording ------------------------------------------------------------------

def test_every_key_has_a_spanish_default():
    missing = sorted(set(DEFAULT_MESSAGES) - set(SPANISH_MESSAGES))
    assert not missing, ("these keys have no Spanish default in ivr/default_wording_es.py, "
                         f"so a Spanish line says them in English: {missing}")
    assert not set(SPANISH_MESSAGES) - set(DEFAULT_MESSAGES)


@pytest.mark.parametrize("name", sorted(SPANISH_MESSAGES))
def test_each_spanish_template_takes_the_english_ones_variables(name):
    allowed = (*COMMON_VARIABLES, *MESSAGE_VARIABLES[name])
    rendered = _env.from_string(SPANISH_MESSAGES[name]).render(
        **{k: MESSAGE_SAMPLE[k] for k in allowed})
    assert rendered.strip() and "{{" not in rendered


def test_every_language_is_spoken_by_its_default_voice_and_recognised():
    for language, voice in DEFAULT_VOICE.items():
        assert language in VOICES[voice], (language, voice)
        assert GATHER_LANGUAGE_OF.get(language, language) in GATHER_LANGUAGES, language
    for voice in ("man", "woman", "alice", "Polly.Lupe-Neural", "Polly.Mia-Neural",
                  "Polly.Lucia-Neural", "Google.es-US-Neural2-A", "Google.en-US-Standard-C"):
        assert voice in VOICES


def test_a_key_with_no_spanish_default_falls_back_to_english(monkeypatch):
    # What another change's new key does until its Spanish is written.
    monkeypatch.setitem(DEFAULT_MESSAGES, "a_key_added_later", "Today: {{ line }}.")
    assert shipped_messages("es-US")["a_key_added_later"] == "Today: {{ line }}."
    assert shipped_messages("es-US")["ack"] == SPANISH_MESSAGES["ack"]


def test_a_responder_reads_shipped_spanish_on_a_line_that_has_no_spanish():
    data = bilingual(languages={})
    data["lines"]["sdd"]["menu"]["options"]["2"].pop("language")
    line = parse_config(data, "ivr.toml").lines["sdd"]
    assert set(line.languages.by_code) == {"en-US"}
    assert message(line, "ack_confirm", Audience(language="es-MX"), code=3) == \
        spanish("ack_confirm", code=3)
    assert message(line, "ack_confirm", code=3).startswith("[SDD #3] is yours")


# -- the config ---------------------------------------------------------------------

def bilingual(**line_changes) -> dict:
    import tomllib
    data = tomllib.loads(BILINGUAL.read_text("utf-8"))
    for key, value in line_changes.items():
        if value is None:
            data["lines"]["sdd"].pop(key, None)
        else:
            data["lines"]["sdd"][key] = value
    return data


def test_the_example_bilingual_line_loads():
    line = load_config(BILINGUAL).lines["sdd"]
    assert line.languages.default == "en-US" and set(line.languages.by_code) == {"en-US", "es-US"}
    spanish_line = line.languages.get("es-US")
    assert (spanish_line.voice, spanish_line.speech_language) == ("Polly.Lupe-Neural", "es-US")
    assert spanish_line.messages["voicemail_prompt"] == SPANISH_MESSAGES["voicemail_prompt"]
    assert "{{ local_time }}" in spanish_line.messages["ack"]     # the example's own
    assert line.messages["voicemail_prompt"] == DEFAULT_MESSAGES["voicemail_prompt"]
    assert line.menu is not None and line.menu.options[1].language == "es-US"
    assert line.languages.chosen_by(" español ") == "es-US"
    assert line.languages.chosen_by("english") == "en-US"
    assert line.languages.chosen_by("hola") is None


def test_a_spanish_line_speaks_spanish_without_a_template_written():
    data = bilingual(language="es-MX", voice=None, languages={})
    data["lines"]["sdd"].pop("menu")
    line = parse_config(data, "ivr.toml").lines["sdd"]
    assert line.languages.get(None).voice == "Polly.Mia-Neural"
    assert line.messages["greeting"] == SPANISH_MESSAGES["greeting"]
    assert line.messages["forward"] == SPANISH_MESSAGES["forward"]


@pytest.mark.parametrize("changes, message", [
    ({"voice": "Polly.Lupe"},
     'ivr.toml: lines.sdd.voice: voice = "Polly.Lupe" does not speak en-US. '
     'Fix: for en-US try "Polly.Joanna-Neural"'),
    ({"voice": "Polly.Nobody"},
     "ivr.toml: lines.sdd.voice: 'Polly.Nobody' is not a voice Twilio has. "
     'Fix: for en-US try voice = "Polly.Joanna-Neural"'),
    ({"language": "es"},
     "ivr.toml: lines.sdd.language: 'es' is not a language Twilio speaks. Fix: use one of "
     "es-ES, es-MX, es-US"),
    ({"languages": {"es-US": {"voice": "Polly.Joanna-Neural"}}},
     'ivr.toml: lines.sdd.languages.es-US.voice: voice = "Polly.Joanna-Neural" does not '
     'speak es-US. Fix: for es-US try "Polly.Lupe-Neural"'),
    ({"languages": {"es-US": {"speech_language": "es"}}},
     "ivr.toml: lines.sdd.languages.es-US.speech_language: 'es' is not a language Twilio's "
     'speech recognition takes. Fix: write speech_language = "es-US", or remove it'),
    ({"recordings": {"greeting": "greeting.mp3"}},
     "ivr.toml: lines.sdd.recordings.greeting: must be the URL of an audio file Twilio can "
     'fetch. Fix: write greeting = "https://example.com/greeting.mp3"'),
    ({"recordings": {"ack": "https://example.com/a.mp3"}},
     "ivr.toml: lines.sdd.recordings.ack: unknown key"),
    ({"languages": {"en-US": {}}},
     "ivr.toml: lines.sdd.languages.en-US: en-US is already the line's language"),
    ({"languages": {"es-US": {"messages": {"ack": "{{ nobody }}"}}}},
     "ivr.toml: lines.sdd.languages.es-US.messages.ack: the template does not render"),
])
def test_a_bad_language_setting_names_the_key_and_a_valid_example(changes, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(bilingual(**changes), "ivr.toml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_menu_option_needs_a_language_the_line_has():
    data = bilingual()
    data["lines"]["sdd"]["menu"]["options"]["2"]["language"] = "es-MX"
    with pytest.raises(ConfigError, match=re.escape(
            "lines.sdd.menu.options.2.language: 'es-MX' is not one of the line's languages. "
            "Fix: add [lines.sdd.languages.es-MX]")):
        parse_config(data, "ivr.toml")


def test_a_responder_language_twilio_does_not_speak_is_refused():
    data = bilingual()
    data["responders"]["ana"]["language"] = "Spanish"
    with pytest.raises(ConfigError, match=re.escape(
            "responders.ana.language: 'Spanish' is not a language Twilio speaks")):
        parse_config(data, "ivr.toml")


def test_ivr_check_accepts_the_bilingual_example_and_shows_its_voices(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ivr", "check", "--config", str(BILINGUAL)],
                            cwd=tmp_path, env=clean_environ(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "    speaks en-US with Polly.Joanna-Neural; plays recordings for greeting\n" \
           "    speaks es-US with Polly.Lupe-Neural\n" in result.stdout


@pytest.mark.parametrize("command", ["check", "serve"])
def test_ivr_refuses_a_voice_that_does_not_speak_the_line_language_at_start(tmp_path, command):
    config = tmp_path / "ivr.toml"
    config.write_text(BILINGUAL.read_text("utf-8").replace(
        'voice = "Polly.Joanna-Neural"', 'voice = "Polly.Lupe"'), "utf-8")
    extra = ["--bind", f"127.0.0.1:{free_port()}"] if command == "serve" else []
    result = subprocess.run([sys.executable, "-m", "ivr", command, "--config", str(config),
                             *extra], cwd=tmp_path, env=clean_environ(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert f'{config}: lines.sdd.voice: voice = "Polly.Lupe" does not speak en-US. Fix: for ' \
           'en-US try "Polly.Joanna-Neural"' in result.stderr, result.stderr


# -- calls and texts on the bilingual line ----------------------------------------

@pytest.fixture
def config(database):
    return load_config(BILINGUAL, database_override=database)


def caller_spoken_after_menu(transcript) -> list[tuple[str | None, str | None, str]]:
    spoken = [(voice, language, text) for who, voice, language, text in transcript.spoken
              if who == "caller"]
    menu = next(i for i, (_, _, text) in enumerate(spoken) if "oprima 2" in text)
    return spoken[menu + 1:]


@pytest.mark.both_engines
async def test_a_spanish_call_is_spanish_from_the_menu_to_the_voicemail(harness):
    sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE, caller_input=["2"],
                        legs={ANA: ANSWER_AND_PRESS("5"), SERGIO: NO_ANSWER})
    transcript = await sim.run()
    await sim.deliver_recording()
    # The recorded greeting, then the bilingual menu in the line's language.
    assert transcript.spoken[0] == ("caller", "play", None,
                                    "https://example.com/sdd/greeting-en-es.mp3")
    menu = next(s for s in transcript.documents if s[0].startswith("/voice/incoming"))[1]
    assert menu.find("Gather").get("language") == "en-US"
    assert transcript.dials == [[ANA], [SERGIO]] and transcript.recorded
    after = caller_spoken_after_menu(transcript)
    assert after == [(*SPANISH, spanish("voicemail_prompt")),
                     (*SPANISH, spanish("voicemail_text_back_offer", key="1"))]
    # Ana reads and hears Spanish (her own language); Sergio the line's English.
    heard_by_ana = [(v, lang, text) for who, v, lang, text in transcript.spoken if who == ANA]
    assert heard_by_ana[0] == (*SPANISH, spanish("whisper", caller="6 1 9, 5 5 5, 0 1 4 2"))
    assert heard_by_ana[1] == (*SPANISH, spanish("whisper_declined"))
    await harness.deliver_outbox()
    [to_ana] = [m.body for m in harness.fake.messages_to(ANA)]
    [to_sergio] = [m.body for m in harness.fake.messages_to(SERGIO)]
    assert to_ana.startswith("[SDD #1] mensaje de voz de +1 619-555-0142")
    assert to_sergio.startswith("[SDD #1] voicemail from +1 619-555-0142")
    [chosen] = [d for d in await harness.decisions() if d.kind == "language_chosen"]
    assert "es-US" in chosen.reason and chosen.conversation_id is not None


@pytest.mark.both_engines
async def test_an_english_call_is_english_from_the_menu_to_the_voicemail(harness):
    transcript = await CallSimulator(
        harness.twilio, caller=CUSTOMER, line_number=LINE, caller_input=["1"],
        legs={SERGIO: ANSWER_AND_PRESS("5"), ANA: NO_ANSWER}).run()
    assert transcript.dials == [[SERGIO], [ANA]] and transcript.recorded
    after = caller_spoken_after_menu(transcript)
    assert [s[:2] for s in after] == [ENGLISH, ENGLISH]
    assert after[0][2] == DEFAULT_MESSAGES["voicemail_prompt"]
    heard_by_sergio = [(v, lang, t) for who, v, lang, t in transcript.spoken if who == SERGIO]
    assert heard_by_sergio[0][:2] == ENGLISH and heard_by_sergio[0][2].startswith("Call for")
    assert not [d for d in await harness.decisions() if d.kind == "language_chosen"]


@pytest.mark.both_engines
async def test_a_spanish_caller_texted_back_reads_spanish(harness):
    transcript = await CallSimulator(
        harness.twilio, caller=CUSTOMER, line_number=LINE, caller_input=["2", "1"],
        legs={ANA: NO_ANSWER, SERGIO: NO_ANSWER}).run()
    after = caller_spoken_after_menu(transcript)
    assert after[-1] == (*SPANISH, spanish("text_back_goodbye"))
    await harness.deliver_outbox()
    assert [m.body for m in harness.fake.messages_to(CUSTOMER)] == [
        spanish("missed_call_text")]


@pytest.mark.both_engines
async def test_a_spanish_texter_reads_spanish_through_ack_escalation_reply_and_close(harness):
    reply = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="ESPAÑOL")
    [ack] = reply.messages()
    assert ack.startswith("Gracias, recibimos su mensaje a las ") and ack.endswith(
        "Sergio le responderá en breve.")           # the example's own template, local time
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Mi contenedor está lleno")
    await harness.deliver_outbox()
    assert harness.fake.messages_to(SERGIO)[0].body.endswith("reply ACK to take it")

    harness.clock.advance(120)
    assert await harness.fire_timers() == 1
    await harness.deliver_outbox()
    # Ana, who reads Spanish, gets the page in Spanish; Sergio's notice is English.
    assert harness.fake.messages_to(ANA)[-1].body.endswith("responda ACK para tomarlo")
    assert "nobody took it in time" in harness.fake.messages_to(SERGIO)[-1].body

    taken = await harness.twilio.text(from_=ANA, to=LINE, body="ACK")
    assert taken.messages() == [spanish("ack_confirm", code=1)]     # Ana's own language
    await harness.twilio.text(from_=ANA, to=LINE, body="Vamos en camino")
    await harness.twilio.text(from_=ANA, to=LINE, body="CLOSE")
    await harness.deliver_outbox()
    to_customer = [m.body for m in harness.fake.messages_to(CUSTOMER)]
    assert to_customer == [spanish("escalation", responder="Ana"),
                           spanish("taken", responder="Ana"),
                           "Vamos en camino",
                           spanish("closed")]
    for body in [ack, *to_customer]:
        assert not ENGLISH_WORDS.search(body), body

    # Texting again later: a new conversation, still in Spanish.
    again = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Otra vez lleno")
    [ack_again] = again.messages()
    assert ack_again.startswith("Gracias, recibimos su mensaje") and "#2" not in ack_again


@pytest.mark.both_engines
async def test_a_texter_on_an_english_line_reads_english(harness):
    reply = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Hello, the bin is full")
    assert reply.messages() == ["Thanks, we got your message. Sergio will reply shortly."]


def test_the_readme_shows_a_voice_a_language_and_a_recorded_greeting():
    readme = (Path(REPO) / "README.md").read_text("utf-8")
    section = readme.split("## Languages, voices and recorded prompts", 1)[1].split("\n## ", 1)[0]
    for shown in ('language = "', 'voice = "', "[lines.", ".recordings]", "greeting = \"https://",
                  "ivr simulate --config examples/bilingual.toml call"):
        assert shown in section, shown
    for key in SPOKEN_KEYS & {"greeting", "voicemail_prompt"}:
        assert key in section


async def test_ivr_simulate_prints_each_voice_and_language_and_each_recording(tmp_path):
    """The README's command against the real service in local mode."""
    port = free_port()
    env = clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(BILINGUAL),
         "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
        done = subprocess.run(
            [sys.executable, "-m", "ivr", "simulate", "--config", str(BILINGUAL), "call",
             "--from", CUSTOMER, "--press", "2", "--text-back"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "  line says: [play] https://example.com/sdd/greeting-en-es.mp3" in lines
        assert ("  line says: [Polly.Joanna-Neural en-US] For English, press 1. Para español,"
                " oprima 2.") in lines
        assert (f"  line says: [Polly.Lupe-Neural es-US] {spanish('text_back_goodbye')}"
                in lines), done.stdout
    finally:
        code, _, err = stop(process)
    assert code == 0, err


def test_an_auto_reply_keyword_may_not_be_a_language_keyword(tmp_path):
    # Auto-replies see a text's first word before the language keywords do:
    # ESPANOL as an auto-reply would never switch a texter to Spanish.
    path = tmp_path / "ivr.toml"
    path.write_text(BILINGUAL.read_text("utf-8") + '\n[lines.sdd.auto_reply.crew]\n'
                    'keyword = "espanol"\nurl = "https://crew.example.com/reply"\n'
                    'secret = "crew-secret-0123456789abcdef"\n', "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, database_override="x.sqlite3")
    assert raised.value.key == "lines.sdd.auto_reply.crew.keyword"
    assert "es-US" in raised.value.problem


def test_responders_named_together_are_joined_in_the_readers_language():
    from ivr.conversations.wording import Names
    line = load_config(BILINGUAL).lines["sdd"]
    both = Names(["Sergio", "Ana"])
    assert str(both) == "Sergio or Ana"        # as the decision log shows it
    spanish = message(line, "ack", Audience(language="es-US"), responder=both)
    assert "Sergio o Ana" in spanish and " or " not in spanish
    assert "Sergio or Ana" in message(line, "ack", Audience(language="en-US"), responder=both)
    three = message(line, "ack", Audience(language="es-US"), responder=Names(["A", "B", "C"]))
    assert "A, B o C" in three


@pytest.mark.both_engines
async def test_a_missed_call_with_no_number_reaches_each_responder_in_their_language(harness):
    await CallSimulator(harness.twilio, caller="anonymous", line_number=LINE, caller_input=["1"],
                        legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1,
                        status_callback_path="/voice/status").run()
    await harness.deliver_outbox()
    [to_ana] = [m.body for m in harness.fake.messages_to(ANA)]
    [to_sergio] = [m.body for m in harness.fake.messages_to(SERGIO)]
    assert to_ana.startswith("[SDD] llamada perdida de un número oculto"), to_ana
    assert to_sergio.startswith("[SDD] missed call from a caller with no number"), to_sergio


@pytest.mark.both_engines
@pytest.mark.parametrize("after_hours, first", [("voicemail", "voicemail_after_hours"),
                                               ("on_call", "greeting_after_hours")])
async def test_a_spanish_line_after_hours_speaks_only_spanish(database, fake_twilio,
                                                             after_hours, first):
    # The defect: a line translated to Spanish greeted after-hours
    # callers in English. Sunday 10:00 in San Diego, the line open weekdays.
    from datetime import datetime, timezone

    from ivr.clock import FrozenClock

    from .support.harness import open_harness
    data = bilingual(language="es-US", voice=None, languages={})
    data["lines"]["sdd"].pop("menu")
    data["lines"]["sdd"]["hours"] = {"open": ["mon-fri 08:00-18:00"], "after_hours": after_hours}
    config = parse_config(data, "ivr.toml", database_override=database)
    clock = FrozenClock(datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc))
    async with open_harness(config, fake_twilio, clock) as harness:
        transcript = await CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                                         legs={SERGIO: NO_ANSWER, ANA: NO_ANSWER}).run()
    heard = [(voice, language, text) for who, voice, language, text in transcript.spoken
             if who == "caller"]
    assert heard and all((voice, language) == SPANISH for voice, language, _ in heard), heard
    assert not [text for *_, text in heard if ENGLISH_WORDS.search(text)], heard
    assert heard[0][2] == spanish(first), heard

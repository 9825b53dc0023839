"""The voices Twilio's <Say> speaks each language with, and the languages
<Gather input="speech"> recognises: data, checked at start (ivr/speech.py)
so a line never sends a pair Twilio refuses mid-call (a <Say> with a voice
that does not speak its language fails, and the caller hears nothing).

Where it came from: Twilio's "Text-to-speech" page of the <Say> docs
(https://www.twilio.com/docs/voice/twiml/say/text-speech, the table
"Available voices and languages": the Basic voices man/woman, alice,
Amazon Polly standard and neural voices, Google standard, WaveNet and
Neural2 voices, each with its language), and the <Gather> docs' list of
speech recognition languages (https://www.twilio.com/docs/voice/twiml/gather
#languagetags; a Gather with another value gets warning 13512). Only a
subset is kept: every voice for en-US, es-US, es-MX and es-ES, and the
common voices of other languages. A voice Twilio adds later is refused
until it is added here, with the page it was read from."""

from __future__ import annotations

# voice -> the languages it speaks (Twilio's `language` values).
_BASIC_LANGUAGES = ("en-US", "en-GB", "es-ES", "fr-FR", "de-DE", "it-IT")
_ALICE_LANGUAGES = (
    "ca-ES", "da-DK", "de-DE", "en-AU", "en-CA", "en-GB", "en-IN", "en-US", "es-ES", "es-MX",
    "fi-FI", "fr-CA", "fr-FR", "it-IT", "ja-JP", "ko-KR", "nb-NO", "nl-NL", "pl-PL", "pt-BR",
    "pt-PT", "ru-RU", "sv-SE", "zh-CN", "zh-HK", "zh-TW")

# Amazon Polly through Twilio: "Polly.<Name>" (standard) and
# "Polly.<Name>-Neural" (neural), by language.
_POLLY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # language: (standard voices, neural voices)
    "en-US": (("Joanna", "Salli", "Kimberly", "Kendra", "Ivy", "Joey", "Justin", "Matthew"),
              ("Joanna", "Salli", "Kimberly", "Kendra", "Ivy", "Joey", "Justin", "Matthew",
               "Ruth", "Stephen", "Danielle", "Gregory", "Kevin")),
    "es-US": (("Lupe", "Penelope", "Miguel"), ("Lupe", "Pedro")),
    "es-MX": (("Mia",), ("Mia", "Andres")),
    "es-ES": (("Conchita", "Lucia", "Enrique"), ("Lucia", "Sergio")),
    "en-GB": (("Amy", "Emma", "Brian"), ("Amy", "Emma", "Brian", "Arthur")),
    "en-AU": (("Nicole", "Russell"), ("Olivia",)),
    "fr-FR": (("Celine", "Lea", "Mathieu"), ("Lea", "Remi")),
    "fr-CA": (("Chantal",), ("Gabrielle", "Liam")),
    "de-DE": (("Marlene", "Vicki", "Hans"), ("Vicki", "Daniel")),
    "it-IT": (("Carla", "Bianca", "Giorgio"), ("Bianca", "Adriano")),
    "pt-BR": (("Camila", "Vitoria", "Ricardo"), ("Camila", "Vitoria", "Thiago")),
    "ja-JP": (("Mizuki", "Takumi"), ("Takumi", "Kazuha", "Tomoko")),
    "ko-KR": (("Seoyeon",), ("Seoyeon",)),
    "cmn-CN": (("Zhiyu",), ("Zhiyu",)),
}

# Google through Twilio: "Google.<language>-<kind>-<letter>".
_GOOGLE: dict[str, dict[str, str]] = {
    "en-US": {"Standard": "ABCDEFGHIJ", "Wavenet": "ABCDEFGHIJ", "Neural2": "ACDEFGHIJ"},
    "es-US": {"Standard": "ABC", "Wavenet": "ABC", "Neural2": "ABC"},
    "es-ES": {"Standard": "ABCD", "Wavenet": "BCD", "Neural2": "ABCDEF"},
    "en-GB": {"Standard": "ABCDF", "Wavenet": "ABCDF", "Neural2": "ABCDF"},
    "fr-FR": {"Standard": "ABCDE", "Wavenet": "ABCDE", "Neural2": "ABCDE"},
    "de-DE": {"Standard": "ABCDEF", "Wavenet": "ABCDEF", "Neural2": "ABCDF"},
}


def _voices() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {"man": set(_BASIC_LANGUAGES), "woman": set(_BASIC_LANGUAGES),
                                  "alice": set(_ALICE_LANGUAGES)}
    for language, (standard, neural) in _POLLY.items():
        for name in standard:
            table.setdefault(f"Polly.{name}", set()).add(language)
        for name in neural:
            table.setdefault(f"Polly.{name}-Neural", set()).add(language)
    for language, kinds in _GOOGLE.items():
        for kind, letters in kinds.items():
            for letter in letters:
                table[f"Google.{language}-{kind}-{letter}"] = {language}
    return {voice: frozenset(languages) for voice, languages in table.items()}


VOICES: dict[str, frozenset[str]] = _voices()
SAY_LANGUAGES: frozenset[str] = frozenset(lang for langs in VOICES.values() for lang in langs)

# The voice a language is spoken with when a line names none: a neural
# voice where Twilio has one (it reads numbers and names best), else alice.
DEFAULT_VOICE: dict[str, str] = {
    "en-US": "Polly.Joanna-Neural", "es-US": "Polly.Lupe-Neural", "es-MX": "Polly.Mia-Neural",
    "es-ES": "Polly.Lucia-Neural", "en-GB": "Polly.Amy-Neural", "en-AU": "Polly.Olivia-Neural",
    "fr-FR": "Polly.Lea-Neural", "fr-CA": "Polly.Gabrielle-Neural",
    "de-DE": "Polly.Vicki-Neural", "it-IT": "Polly.Bianca-Neural",
    "pt-BR": "Polly.Camila-Neural", "ja-JP": "Polly.Takumi-Neural",
    "ko-KR": "Polly.Seoyeon-Neural", "cmn-CN": "Polly.Zhiyu-Neural",
}

# <Gather input="speech" language="...">: what Twilio's speech recognition takes.
GATHER_LANGUAGES: frozenset[str] = frozenset({
    "en-US", "en-GB", "en-AU", "en-CA", "en-IN", "en-IE", "en-NZ", "en-ZA",
    "es-US", "es-MX", "es-ES", "es-AR", "es-CO", "es-CL", "es-PE", "es-GT", "es-PR",
    "fr-FR", "fr-CA", "de-DE", "it-IT", "pt-BR", "pt-PT", "nl-NL", "ja-JP", "ko-KR",
    "vi-VN", "fil-PH", "cmn-Hans-CN", "yue-Hant-HK", "ru-RU", "pl-PL", "sv-SE",
})

# The <Gather> speech language for a <Say> language Twilio spells otherwise.
GATHER_LANGUAGE_OF: dict[str, str] = {"cmn-CN": "cmn-Hans-CN", "zh-CN": "cmn-Hans-CN",
                                      "zh-HK": "yue-Hant-HK"}


def example_voice(language: str) -> str:
    """A voice that speaks `language`, for an error's "try ..."."""
    if language in DEFAULT_VOICE:
        return DEFAULT_VOICE[language]
    return next((v for v in sorted(VOICES) if language in VOICES[v]), "alice")

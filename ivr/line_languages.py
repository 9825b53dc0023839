"""A line's languages, validated at start beside ivr/config.py (which calls
`with_languages` once its lines are parsed): the language and voice its
calls are spoken in, the language and hints its menu's speech recognition
listens for, recordings played instead of spoken templates, and extra
languages a caller can switch to from the menu, or a texter by a keyword,
each with its own wording (Spanish shipped: ivr/default_wording_es.py).

    [lines.qdn]
    language = "en-US"                  # the default; voice is then
    voice = "Polly.Joanna-Neural"       # checked against Twilio's table
    hints = ["dumpster", "roll-off"]
    [lines.qdn.recordings]
    greeting = "https://example.com/greeting.mp3"
    [lines.qdn.languages.es-US]
    voice = "Polly.Lupe-Neural"
    keywords = ["ESPAÑOL", "ESPANOL"]
    [lines.qdn.languages.es-US.messages]
    greeting = "Gracias por llamar ..."

Kept apart so config.py stays within its size."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .default_wording import DEFAULT_MESSAGES, SPOKEN_KEYS
from .default_wording_es import DEFAULT_KEYWORDS, SHIPPED_WORDING
from .twilio_voices import (
    GATHER_LANGUAGE_OF,
    GATHER_LANGUAGES,
    SAY_LANGUAGES,
    VOICES,
    example_voice,
)

LINE_LANGUAGE_KEYS = frozenset({"language", "voice", "speech_language", "hints", "recordings",
                                "languages", "keywords"})
LANGUAGE_KEYS = frozenset({"voice", "speech_language", "hints", "recordings", "keywords",
                           "messages"})
DEFAULT_LANGUAGE = "en-US"
HINTS_MAX_CHARS = 500   # Twilio's hints: "up to 500 entries", kept short here


@dataclass(frozen=True)
class Language:
    """How a line speaks, listens and writes in one language."""

    code: str                              # Twilio's <Say language>, e.g. "es-US"
    voice: str
    speech_language: str                   # <Gather language>
    hints: tuple[str, ...] = ()
    messages: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MESSAGES))
    recordings: Mapping[str, str] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineLanguages:
    default: str = DEFAULT_LANGUAGE
    by_code: Mapping[str, Language] = field(default_factory=lambda: {
        DEFAULT_LANGUAGE: Language(DEFAULT_LANGUAGE, example_voice(DEFAULT_LANGUAGE),
                                   DEFAULT_LANGUAGE)})

    def get(self, code: str | None) -> Language:
        """`code`'s settings, or the default language's for None or a
        language the line no longer has (a conversation from before)."""
        return self.by_code.get(code or "") or self.by_code[self.default]

    def chosen_by(self, text: str) -> str | None:
        """The language a text names by keyword, alone ("ESPAÑOL"), if any."""
        if len(self.by_code) < 2:
            return None
        word = text.strip().strip(".!").upper()
        for language in self.by_code.values():
            if word in language.keywords:
                return language.code
        return None


def shipped_messages(code: str) -> dict[str, str]:
    """The wording the project ships for `code`: English for a key the
    language's defaults lack."""
    return {**DEFAULT_MESSAGES, **SHIPPED_WORDING.get(code.split("-")[0], {})}


def with_languages(v: Any, data: Mapping[str, Any], lines: dict[str, Any],
                   responders: Mapping[str, Any]) -> dict[str, Any]:
    """Each Line with its languages; `v` is config.py's validator."""
    result = {}
    for lid, line in lines.items():
        entry, key = data["lines"][lid], f"lines.{lid}"
        languages = _line_languages(v, entry, key, line.messages)
        _check_menu(v, line, key, languages)
        _check_responders(v, line, responders, languages)
        default = languages.get(None)
        result[lid] = replace(line, languages=languages, messages=default.messages)
    return result


def _line_languages(v: Any, entry: Mapping[str, Any], key: str,
                    english_messages: Mapping[str, str]) -> LineLanguages:
    code = _language_code(v, entry, f"{key}.language", DEFAULT_LANGUAGE)
    overrides = entry.get("messages") if isinstance(entry.get("messages"), dict) else {}
    default = _language(v, entry, key, code, english_messages, set(overrides))
    by_code = {code: default}
    extra = v.table(entry, "languages", required=False, key=f"{key}.languages")
    for other, settings in extra.items():
        where = f"{key}.languages.{other}"
        other = _language_code(v, {"language": other}, where, other)
        if other in by_code:
            raise v.fail(where, f"{other} is already the line's language",
                         f"remove [{where}], or set language = \"...\" in [{key}] to another")
        settings = v.table(extra, other, required=True, key=where)
        v.only_keys(settings, where, set(LANGUAGE_KEYS))
        raw = settings.get("messages") if isinstance(settings.get("messages"), dict) else {}
        by_code[other] = _language(v, settings, where, other,
                                   v.messages(settings, f"{where}.messages"), set(raw))
    return LineLanguages(default=code, by_code=by_code)


def _language(v: Any, table: Mapping[str, Any], key: str, code: str,
              validated: Mapping[str, str], overridden: set[str]) -> Language:
    """`validated` is config's rendering check of the table's messages
    over the English defaults; a key not overridden takes the shipped
    default of `code` instead."""
    shipped = shipped_messages(code)
    messages = {name: validated[name] if name in overridden else shipped.get(name, source)
                for name, source in validated.items()}
    return Language(code=code, voice=_voice(v, table, key, code),
                    speech_language=_speech_language(v, table, key, code),
                    hints=_hints(v, table, f"{key}.hints"),
                    messages=messages,
                    recordings=_recordings(v, table, f"{key}.recordings"),
                    keywords=_keywords(v, table, f"{key}.keywords", code))


def _language_code(v: Any, table: Mapping[str, Any], key: str, default: str) -> str:
    value = table.get("language", default)
    if not isinstance(value, str) or value not in SAY_LANGUAGES:
        near = sorted(lang for lang in SAY_LANGUAGES
                      if isinstance(value, str) and lang.lower()[:2] == value.lower()[:2])
        raise v.fail(key, f"{value!r} is not a language Twilio speaks",
                     f"use one of {', '.join(near)}" if near else
                     'write language = "en-US" (or "es-US", "es-MX", "es-ES", ...)')
    return value


def _voice(v: Any, table: Mapping[str, Any], key: str, code: str) -> str:
    value = table.get("voice")
    if value is None:
        return example_voice(code)
    if not isinstance(value, str) or value not in VOICES:
        raise v.fail(f"{key}.voice", f"{value!r} is not a voice Twilio has",
                     f'for {code} try voice = "{example_voice(code)}"')
    if code not in VOICES[value]:
        raise v.fail(f"{key}.voice", f'voice = "{value}" does not speak {code}',
                     f'for {code} try "{example_voice(code)}"')
    return value


def _speech_language(v: Any, table: Mapping[str, Any], key: str, code: str) -> str:
    default = GATHER_LANGUAGE_OF.get(code, code)
    value = table.get("speech_language", default)
    if not isinstance(value, str) or value not in GATHER_LANGUAGES:
        example = default if default in GATHER_LANGUAGES else "en-US"
        raise v.fail(f"{key}.speech_language",
                     f"{value!r} is not a language Twilio's speech recognition takes",
                     f'write speech_language = "{example}", or remove it')
    return value


def _hints(v: Any, table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw = table.get("hints", [])
    if (not isinstance(raw, list) or not all(isinstance(h, str) and h.strip() for h in raw)
            or len(", ".join(raw)) > HINTS_MAX_CHARS):
        raise v.fail(key, f"must be a list of words or phrases, {HINTS_MAX_CHARS} characters in"
                          " all at most", 'write hints = ["dumpster", "roll-off"]')
    return tuple(h.strip() for h in raw)


def _recordings(v: Any, table: Mapping[str, Any], key: str) -> dict[str, str]:
    raw = v.table(table, "recordings", required=False, key=key)
    v.only_keys(raw, key, set(SPOKEN_KEYS))
    for name, url in raw.items():
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) \
                or any(c.isspace() for c in url):
            raise v.fail(f"{key}.{name}", "must be the URL of an audio file Twilio can fetch",
                         f'write {name} = "https://example.com/{name}.mp3"')
    return dict(raw)


def _keywords(v: Any, table: Mapping[str, Any], key: str, code: str) -> tuple[str, ...]:
    raw = table.get("keywords", list(DEFAULT_KEYWORDS.get(code.split("-")[0], ())))
    if not isinstance(raw, list) or not all(isinstance(w, str) and w.strip() for w in raw):
        raise v.fail(key, "must be a list of words", 'write keywords = ["ESPAÑOL", "ESPANOL"]')
    return tuple(w.strip().upper() for w in raw)


def _check_menu(v: Any, line: Any, key: str, languages: LineLanguages) -> None:
    for option in line.menu.options if line.menu else ():
        if option.language is not None and option.language not in languages.by_code:
            raise v.fail(f"{key}.menu.options.{option.digit}.language",
                         f"{option.language!r} is not one of the line's languages",
                         f"add [{key}.languages.{option.language}] (with its voice), or use "
                         f"one of: {', '.join(languages.by_code)}")


def _check_responders(v: Any, line: Any, responders: Mapping[str, Any],
                      languages: LineLanguages) -> None:
    for rid in line.responder_ids:
        code = responders[rid].language
        if code is None or code in languages.by_code:
            continue
        if code not in SAY_LANGUAGES:
            raise v.fail(f"responders.{rid}.language", f"{code!r} is not a language Twilio"
                         " speaks", 'write language = "en-US" (or "es-US", "es-MX", ...)')
        if code.split("-")[0] not in SHIPPED_WORDING:
            raise v.fail(f"responders.{rid}.language",
                         f"{code!r} has no wording on line {line.id}",
                         f"add [lines.{line.id}.languages.{code}] with its messages, or use "
                         f"one of: {', '.join(languages.by_code)}")


def responder_language(line: Any, responder: Any) -> Language:
    """The language a responder reads the line's pages in: their own, else
    the line's."""
    code = getattr(responder, "language", None)
    if code is None or code in line.languages.by_code:
        return line.languages.get(code)
    return Language(code=code, voice=example_voice(code),
                    speech_language=GATHER_LANGUAGE_OF.get(code, code),
                    messages=shipped_messages(code))

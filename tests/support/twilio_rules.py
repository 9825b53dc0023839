"""Twilio's rules for the REST calls the service makes that its OpenAPI
description (shared/twilio-oai/twilio_api_v2010.json) does not encode, so
Prism cannot check them: the either/or parameters, the limits stated only in
the descriptions' prose, and what makes a callback URL one Twilio can call.

Each function takes a form as parsed from the wire (`parse_qs`: every name to
its list of values) and returns the problems found, worded for a failing
assertion; an empty list means Twilio would take it. The source of each rule
is the description's own text for that parameter, quoted in the comment.
"""

from __future__ import annotations

from typing import Mapping, Sequence
from urllib.parse import parse_qsl, urlparse

Form = Mapping[str, Sequence[str]]

BODY_MAX_CHARS = 1600  # Body: "Can be up to 1,600 characters in length."
MEDIA_MAX = 10  # MediaUrl: "You can include up to ten `media_url` parameters per message."
TWIML_MAX_CHARS = 4000  # Twiml: "Max 4000 characters."

# Parameters that take one value: sent twice, Twilio would read only one of them.
MESSAGE_SINGLE = ("To", "From", "MessagingServiceSid", "Body", "StatusCallback")
CALL_SINGLE = ("To", "From", "Url", "Twiml", "ApplicationSid", "StatusCallback", "Method")
NUMBER_SINGLE = ("VoiceUrl", "VoiceMethod", "SmsUrl", "SmsMethod", "StatusCallback",
                 "StatusCallbackMethod", "VoiceFallbackUrl", "SmsFallbackUrl")
NUMBER_URLS = ("VoiceUrl", "SmsUrl", "StatusCallback", "VoiceFallbackUrl", "SmsFallbackUrl")
NUMBER_METHODS = ("VoiceMethod", "SmsMethod", "StatusCallbackMethod",
                  "VoiceFallbackMethod", "SmsFallbackMethod")


def _values(form: Form, name: str) -> list[str]:
    """The non-empty values of `name`: Twilio treats `Body=` as no Body."""
    return [value for value in form.get(name, ()) if value != ""]


def _given(form: Form, name: str) -> bool:
    return bool(_values(form, name))


def url_problem(name: str, value: str) -> str | None:
    """Twilio calls back only an absolute http(s) URL with a real host name;
    StatusCallback: "URL must contain a valid hostname and underscores are
    not allowed"."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"{name} must be an absolute http(s) URL, got {value!r}"
    if "_" in parsed.hostname:
        return f"{name}'s host name must not contain an underscore, got {value!r}"
    return None


# Connection overrides in a webhook URL's fragment, as documented at
# https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides:
# ct 100-10000, rt 100-15000, tt 100-15000 (ms), rc 0-5, rp a comma list of
# 4xx, 5xx, ct, rt, all; e (edge) and sni are documented too.
OVERRIDE_RANGES = {"ct": (100, 10000), "rt": (100, 15000), "tt": (100, 15000), "rc": (0, 5)}
RETRY_POLICIES = {"4xx", "5xx", "ct", "rt", "all"}
OVERRIDE_OTHERS = {"rp", "e", "sni"}


def overrides_problems(name: str, value: str) -> list[str]:
    """What Twilio would not take in the connection overrides of URL `value`."""
    fragment = urlparse(value).fragment
    if not fragment:
        return []
    problems = []
    pairs = parse_qsl(fragment, keep_blank_values=True)
    for key, setting in pairs:
        if key in OVERRIDE_RANGES:
            low, high = OVERRIDE_RANGES[key]
            if not setting.isdigit() or not low <= int(setting) <= high:
                problems.append(f"{name}'s override {key}={setting} is not within {low}-{high}")
        elif key == "rp":
            unknown = set(setting.split(",")) - RETRY_POLICIES
            if unknown:
                problems.append(f"{name}'s override rp={setting} names {sorted(unknown)}; "
                                f"Twilio knows {sorted(RETRY_POLICIES)}")
        elif key not in OVERRIDE_OTHERS:
            problems.append(f"{name}'s fragment has {key!r}, which is no connection override")
    if len({key for key, _ in pairs}) != len(pairs):
        problems.append(f"{name}'s fragment repeats an override")
    return problems


def _repeated(form: Form, names: Sequence[str]) -> list[str]:
    return [f"{name} is given {len(form[name])} times; Twilio takes one"
            for name in names if len(form.get(name, ())) > 1]


def _unknown_keys(form: Form) -> list[str]:
    # twilio-python names every parameter in PascalCase; anything else is a
    # typo (or a snake_case name) that Twilio would silently ignore.
    return [f"{name!r} is not a Twilio parameter name" for name in form
            if not name[:1].isupper() or "_" in name]


def message_problems(form: Form) -> list[str]:
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json"""
    problems = _repeated(form, MESSAGE_SINGLE) + _unknown_keys(form)
    if not _given(form, "To"):
        problems.append("To is required")
    # From: "If you are using `messaging_service_sid`, this parameter can be
    # empty"; MessagingServiceSid: "You may also provide a `from` parameter if
    # you want to use a specific Sender from the Sender Pool." So at least one,
    # and both together are allowed.
    if not (_given(form, "From") or _given(form, "MessagingServiceSid")):
        problems.append("one of From or MessagingServiceSid is required")
    media = _values(form, "MediaUrl")
    if not _given(form, "Body") and not media and not _given(form, "ContentSid"):
        problems.append("one of Body or MediaUrl is required")
    if len(media) > MEDIA_MAX:
        problems.append(f"{len(media)} MediaUrl given; Twilio takes at most {MEDIA_MAX}")
    for url in media:
        problem = url_problem("MediaUrl", url)
        if problem:
            problems.append(problem)
    for body in _values(form, "Body"):
        if len(body) > BODY_MAX_CHARS:
            problems.append(f"Body has {len(body)} characters; Twilio takes at most "
                            f"{BODY_MAX_CHARS}")
    for callback in _values(form, "StatusCallback"):
        problem = url_problem("StatusCallback", callback)
        if problem:
            problems.append(problem)
    return problems


def call_problems(form: Form) -> list[str]:
    """POST /2010-04-01/Accounts/{AccountSid}/Calls.json"""
    problems = _repeated(form, CALL_SINGLE) + _unknown_keys(form)
    for name in ("To", "From"):
        if not _given(form, name):
            problems.append(f"{name} is required")
    # Twilio needs one source of TwiML. With both Url and Twiml, "twiml
    # parameter will be ignored": never what the sender meant, so refused too.
    sources = [name for name in ("Url", "Twiml", "ApplicationSid") if _given(form, name)]
    if len(sources) != 1:
        problems.append("exactly one of Url, Twiml or ApplicationSid is required, got "
                        + (", ".join(sources) or "none"))
    for name in ("Url", "StatusCallback", "FallbackUrl"):
        for value in _values(form, name):
            problem = url_problem(name, value)
            if problem:
                problems.append(problem)
    for twiml in _values(form, "Twiml"):
        if len(twiml) > TWIML_MAX_CHARS:
            problems.append(f"Twiml has {len(twiml)} characters; Twilio takes at most "
                            f"{TWIML_MAX_CHARS}")
    return problems


def incoming_number_problems(form: Form) -> list[str]:
    """POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json
    (what `ivr twilio configure` will send). The description checks that the
    URLs are URIs and the methods GET or POST, but takes `ftp://x`; the last
    rule is the service's own: its webhooks answer POST only."""
    problems = _repeated(form, NUMBER_SINGLE) + _unknown_keys(form)
    for name in NUMBER_URLS:
        for value in _values(form, name):
            problem = url_problem(name, value)
            if problem:
                problems.append(problem)
            problems.extend(overrides_problems(name, value))
    for name in NUMBER_METHODS:
        for value in _values(form, name):
            if value not in ("GET", "POST"):
                problems.append(f"{name} must be GET or POST, got {value!r}")
    for url_name, method_name in (("VoiceUrl", "VoiceMethod"), ("SmsUrl", "SmsMethod"),
                                  ("VoiceFallbackUrl", "VoiceFallbackMethod"),
                                  ("SmsFallbackUrl", "SmsFallbackMethod")):
        # The service's webhooks are POST only; Twilio's default is POST too,
        # but saying so keeps a console edit from silently switching it.
        if _given(form, url_name) and _values(form, method_name) not in ([], ["POST"]):
            problems.append(f"{url_name} is set with {method_name} "
                            f"{_values(form, method_name)}; the service answers POST only")
    return problems

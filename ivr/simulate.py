"""`ivr simulate`: text or call a running service as Twilio would, from a
terminal: signed webhooks, and for calls the TwiML followed step by step.

It plays a simple version of Twilio's voice engine: enough to watch a
cascade work locally (who is rung, the whisper, voicemail), not a test
oracle (tests/call_simulator.py is that).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from .clock import SystemClock
from .config import Config, Line
from .local_twilio import LOCAL_ACCOUNT_SID
from .phone import InvalidPhoneNumber, normalise
from .secrets import Secrets
from .server import StartupError, local_state_path
from .shown_command import config_argument, ivr_command
from .store.dialect import is_postgres_url
from .store.read_only import Unreadable, read_only

MAX_STEPS = 40


@dataclass
class Target:
    url: str
    token: str
    account_sid: str


def find_target(config: Config, secrets: Secrets, url: str | None, path: str) -> Target:
    """The service to talk to: --url with TWILIO_AUTH_TOKEN, or local mode's."""
    token, base = secrets.auth_token, url or secrets.public_base_url
    state = local_state_path(config)
    if state.exists():
        saved = json.loads(state.read_text("utf-8"))
        token = token or saved["auth_token"]
        base = base or saved["url"]
    if not token or not base:
        raise StartupError("no running local service found and no TWILIO_AUTH_TOKEN/"
                           "IVR_PUBLIC_BASE_URL set. Fix: start it with `"
                           f"{ivr_command()} serve {config_argument(path)}` first, or pass "
                           "--url with TWILIO_AUTH_TOKEN set")
    return Target(base.rstrip("/"), token, secrets.account_sid or LOCAL_ACCOUNT_SID)


def pick_line(config: Config, line_id: str | None, path: str) -> Line:
    line = config.lines.get(line_id) if line_id else next(iter(config.lines.values()))
    if line is None:
        raise StartupError(f"--line {line_id!r} is not a line in {path}. "
                           f"Fix: use one of: {', '.join(config.lines)}")
    return line


def sender_number(config: Config, as_: str | None, from_: str | None, path: str) -> str:
    if as_:
        if as_ not in config.responders:
            raise StartupError(f"--as {as_!r} is not a responder in {path}. "
                               f"Fix: use one of: {', '.join(config.responders)}")
        return config.responders[as_].phone
    try:
        return normalise(from_ or "")
    except InvalidPhoneNumber as exc:
        raise StartupError(f"--from: {exc}. Fix: give an E.164 number like +16195550142")


def new_sid(prefix: str) -> str:
    return prefix + os.urandom(16).hex()


class Webhooks:
    """Signs and posts webhooks to the service, as Twilio does."""

    def __init__(self, target: Target, session: aiohttp.ClientSession):
        self.target = target
        self.session = session

    async def post(self, url: str, params: list[tuple[str, str]]) -> str:
        if url.startswith("/"):
            url = self.target.url + url
        signature = RequestValidator(self.target.token).compute_signature(url, MultiDict(params))
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1",
                   "Content-Type": "application/x-www-form-urlencoded"}
        try:
            async with self.session.post(url, data=urlencode(params), headers=headers) as response:
                status, body = response.status, await response.text()
        except aiohttp.ClientError as exc:
            raise StartupError(f"could not reach {url} ({exc}). Fix: is the service running?")
        if status != 200:
            raise StartupError(f"the service answered HTTP {status}: {body.strip()[:200]}")
        return body


async def text(config: Config, target: Target, line: Line, sender: str, body: str,
               media: list[str], out: TextIO) -> int:
    sid = new_sid("SM")
    params = [("MessageSid", sid), ("SmsSid", sid), ("SmsMessageSid", sid),
              ("AccountSid", target.account_sid), ("From", sender), ("To", line.number),
              ("Body", body), ("NumMedia", str(len(media))), ("NumSegments", "1"),
              ("SmsStatus", "received"), ("ApiVersion", "2010-04-01")]
    for i, media_url in enumerate(media):
        params += [(f"MediaUrl{i}", media_url), (f"MediaContentType{i}", "image/jpeg")]
    async with aiohttp.ClientSession() as session:
        reply = await Webhooks(target, session).post("/sms/incoming", params)
    out.write(f"sent to {line.name} ({line.number}) as {sender}: {body}\n")
    replies = [m.text or "" for m in ET.fromstring(reply).iter("Message")]
    for message in replies:
        out.write(f"reply from the line: {message}\n")
    if not replies:
        out.write(f"(the line sent no reply: {why_no_reply(config, line, sender)})\n")
    return 0


def why_no_reply(config: Config, line: Line, sender: str) -> str:
    """A customer's first text is answered; a later one joins the open
    conversation quietly. Local mode keeps its database between starts, so a
    walkthrough run again lands in the last run's conversation."""
    fresh = (f"to start afresh, stop the service and run {ivr_command()} reset-local "
             f"{config_argument(config.path)}")
    if config.responder_by_phone(line, sender):
        return "a responder's text is answered by text, if at all"
    try:
        open_one = (None if is_postgres_url(config.database) else
                    read_only(config.database, SystemClock().now(),
                              lambda tx: tx.open_conversation_for(line.id, sender)))
    except Unreadable:
        open_one = None
    if open_one is not None:
        return (f"this number already has conversation #{open_one.code} open, so the text "
                f"joined it; only a first text is answered. {fresh[0].upper()}{fresh[1:]}")
    return f"a blocked number, or a text that joined an open conversation; {fresh}"


@dataclass
class CallScript:
    """What the caller and the responders do: keys for menus, who answers
    (a responder id, or None for nobody), and the voicemail left; the
    caller may hang up after some seconds of ringing or during the
    voicemail prompt, or press the line's text-back key there."""
    keys: list[str]
    answer: str | None
    message: str | None
    hang_up_after: float | None = None
    hang_up_at_prompt: bool = False
    text_back: bool = False


class CallerGone(Exception):
    """The scripted caller hung up: no TwiML runs any more."""


async def call(config: Config, target: Target, line: Line, caller: str, script: CallScript,
               out: TextIO) -> int:
    call_sid = new_sid("CA")
    base = [("CallSid", call_sid), ("AccountSid", target.account_sid), ("From", caller),
            ("To", line.number), ("Called", line.number), ("Caller", caller),
            ("Direction", "inbound"), ("ApiVersion", "2010-04-01")]
    async with aiohttp.ClientSession() as session:
        hooks = Webhooks(target, session)
        out.write(f"calling {line.name} ({line.number}) from {caller}\n")
        try:
            code = await _follow(hooks, config, line, base, script, out)
        except CallerGone:
            code = 0
        # The call's status callback, which `ivr twilio configure` sets.
        await hooks.post("/voice/status", [*base, ("CallStatus", "completed"),
                                           ("CallDuration", "30")])
    return code


async def _follow(hooks: Webhooks, config: Config, line: Line, base: list[tuple[str, str]],
                  script: CallScript, out: TextIO) -> int:
    keys = list(script.keys)
    rang = [0.0]    # seconds the caller has heard ringing, for --hang-up-after
    document = await hooks.post("/voice/incoming", [*base, ("CallStatus", "ringing")])
    for _ in range(MAX_STEPS):
        next_document = None
        for verb in ET.fromstring(document):
            if verb.tag in ("Say", "Play"):
                out.write(f"  line says: {heard(verb)}\n")
            elif verb.tag == "Gather":
                for said in verb:
                    out.write(f"  line says: {heard(said)}\n")
                action = verb.get("action", "")
                if "/voice/voicemail-prompt" in action:
                    pressed = _at_prompt(line, script, out)
                else:
                    pressed = keys.pop(0) if keys else ""
                    out.write(f"  caller presses: {pressed or '(nothing)'}\n")
                next_document = await hooks.post(action, [
                    *base, ("CallStatus", "in-progress"), ("Digits", pressed)])
                break
            elif verb.tag == "Dial":
                next_document = await _dial(hooks, config, verb, base, script, rang, out)
                break
            elif verb.tag == "Record":
                next_document = await _record(hooks, verb, base, script, out)
                break
            elif verb.tag == "Hangup":
                out.write("  the line hangs up\n")
                return 0
        if next_document is None:
            out.write("  the call ends\n")
            return 0
        document = next_document
    out.write("  (stopped after too many steps)\n")
    return 1


def heard(verb: ET.Element) -> str:
    """A <Say> as "[voice language] words", a <Play> as "[play] url"."""
    if verb.tag == "Play":
        return f"[play] {(verb.text or '').strip()}"
    voice = " ".join(v for v in (verb.get("voice"), verb.get("language")) if v)
    return f"[{voice}] {verb.text}" if voice else f"{verb.text}"


def _at_prompt(line: Line, script: CallScript, out: TextIO) -> str:
    """The voicemail prompt's key: the text-back key, nothing, or a hang-up."""
    if script.hang_up_at_prompt:
        out.write("  caller hangs up during the voicemail prompt\n")
        raise CallerGone
    if script.text_back and line.text_back_key:
        out.write(f"  caller presses {line.text_back_key} to be texted back\n")
        return line.text_back_key
    out.write("  caller presses: (nothing)\n")
    return ""


async def _dial(hooks: Webhooks, config: Config, dial: ET.Element,
                base: list[tuple[str, str]], script: CallScript, rang: list[float],
                out: TextIO) -> str:
    numbers = list(dial.iter("Number"))
    by_phone = {r.phone: r for r in config.responders.values()}
    names = ", ".join(by_phone[n.text].name if n.text in by_phone else "?" for n in numbers)
    timeout = float(dial.get("timeout") or 30)
    out.write(f"  ringing {names} for {dial.get('timeout')} s\n")
    if script.hang_up_after is not None and rang[0] + timeout > script.hang_up_after:
        out.write(f"  caller hangs up after {script.hang_up_after:g} s of ringing\n")
        # Twilio still posts the Dial action, with the caller's call completed.
        await hooks.post(dial.get("action", ""), [
            *base, ("CallStatus", "completed"), ("DialCallStatus", "canceled"),
            ("DialBridged", "false")])
        raise CallerGone
    rang[0] += timeout
    for number in numbers:
        responder = by_phone.get(number.text or "")
        if responder is None or responder.id != script.answer:
            continue
        leg = [("CallSid", new_sid("CA")), ("ParentCallSid", base[0][1]),
               ("AccountSid", hooks.target.account_sid), ("From", dial.get("callerId", "")),
               ("To", responder.phone), ("Direction", "outbound-dial"),
               ("CallStatus", "in-progress"), ("ApiVersion", "2010-04-01")]
        whisper = ET.fromstring(await hooks.post(number.get("url", ""), leg))
        gather = whisper.find("Gather")
        for said in [*whisper.findall("Say"), *whisper.findall("Gather/*")]:
            out.write(f"  {responder.name} hears: {heard(said)}\n")
        if gather is not None:
            out.write(f"  {responder.name} presses 1\n")
            answer = ET.fromstring(await hooks.post(gather.get("action", ""),
                                                    [*leg, ("Digits", "1")]))
            for said in answer.iter("Say"):
                out.write(f"  {responder.name} hears: {heard(said)}\n")
            if answer.find("Hangup") is None:
                out.write(f"  connected to {responder.name}; they talk, then hang up\n")
                return await hooks.post(dial.get("action", ""), [
                    *base, ("CallStatus", "completed"), ("DialCallStatus", "completed"),
                    ("DialBridged", "true"), ("DialCallSid", leg[0][1]),
                    ("DialCallDuration", "60")])
    out.write("  nobody takes it\n")
    return await hooks.post(dial.get("action", ""), [
        *base, ("CallStatus", "in-progress"), ("DialCallStatus", "no-answer"),
        ("DialBridged", "false")])


async def _record(hooks: Webhooks, record: ET.Element, base: list[tuple[str, str]],
                  script: CallScript, out: TextIO) -> str | None:
    recording_sid = new_sid("RE")
    recording_url = (f"https://api.twilio.com/2010-04-01/Accounts/{hooks.target.account_sid}"
                     f"/Recordings/{recording_sid}")
    if not script.message:
        out.write("  caller hangs up without a message\n")
        await hooks.post(record.get("recordingStatusCallback", ""), [
            *base[:2], ("RecordingSid", recording_sid), ("RecordingUrl", recording_url),
            ("RecordingStatus", "absent"), ("RecordingDuration", "0")])
        return None
    duration = str(max(len(script.message.split()) // 2, 1))
    out.write(f"  caller leaves a message: {script.message}\n")
    await hooks.post(record.get("recordingStatusCallback", ""), [
        *base[:2], ("RecordingSid", recording_sid), ("RecordingUrl", recording_url),
        ("RecordingStatus", "completed"), ("RecordingDuration", duration),
        ("RecordingChannels", "1"), ("RecordingSource", "RecordVerb")])
    await hooks.post(record.get("transcribeCallback", ""), [
        *base, ("TranscriptionSid", new_sid("TR")), ("TranscriptionText", script.message),
        ("TranscriptionStatus", "completed"), ("RecordingSid", recording_sid),
        ("RecordingUrl", recording_url)])
    out.write("  caller hangs up\n")
    return None

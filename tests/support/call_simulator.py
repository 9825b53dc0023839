"""A test-side stand-in for Twilio's voice engine.

Why this exists: the voice routes answer Twilio with TwiML, and what that
TwiML *does* depends on how Twilio executes it — which verbs run in which
order, which URL each action goes to, which parameters Twilio sends, what a
whisper on the called person's leg means for bridging, what happens when the
caller hangs up mid-Dial. Asserting on TwiML text cannot catch a cascade that
stops at a voicemail box or an action URL that never fires. So this module
places an inbound call into the app and follows every document exactly as
Twilio would, driven by a script of what the caller and each called responder
do, and writes down everything that happened in a `CallTranscript`.

It is written against Twilio's documented behaviour (see
../shared/twilio-notes.md and Twilio's TwiML pages), never against the app.
Where Twilio documents nothing, the choice made is written down next to the
code as ``UNDOCUMENTED:``.

Usage::

    sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                        legs={SERGIO: NO_ANSWER, BACKUP: ANSWER_AND_PRESS("1")})
    call = await sim.run()
    assert call.dials == [[SERGIO], [BACKUP]] and call.connected_to == BACKUP

Time is simulated: nothing sleeps. Each verb takes a plausible number of
seconds on a virtual clock, which orders what happens on legs rung at once
and fills in durations and timestamps.
"""

from __future__ import annotations

import email.utils
import heapq
import importlib
import importlib.util
import math
import re
import xml.etree.ElementTree as ET
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator, Callable, Mapping, Sequence, Union
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from .driver import TWILIO_HEADERS, TwilioDriver, WebhookResponse, sid, sign
from .fake_twilio import ACCOUNT_SID

__all__ = [
    "ANSWER_AND_PRESS", "ANSWER_SILENT", "BUSY", "FAILED", "HANG_UP_DURING_WHISPER",
    "NO_ANSWER", "SILENCE", "VOICEMAIL_BOX", "CallSimulator", "CallTranscript", "DialOutcome",
    "Exchange", "Leg", "LegOutcome", "Recording", "Speech",
]

API_VERSION = "2010-04-01"
VOICE_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=UTF-8"
TWIML_CONTENT_TYPES = ("text/xml", "application/xml")

# Virtual-clock costs, in seconds. They only order events and fill durations.
SECONDS_PER_WORD = 0.4          # about 150 words a minute
PLAY_SECONDS = 3                # the length of an audio file is unknown
SECONDS_PER_KEY = 1
SPEECH_SECONDS = 3
BUSY_AFTER_SECONDS = 1          # a busy signal comes back almost at once
# hang_up_during_dial: the caller gives up this long after the Dial starts
# ringing (before any leg with the default answer_after picks up).
CALLER_GIVES_UP_AFTER_SECONDS = 3
MAX_NUMBERS_PER_DIAL = 10       # Twilio: "up to ten <Number> nouns"
MAX_WHISPER_VERBS = 50          # a Redirect loop on a responder's leg fails loudly

# UNDOCUMENTED: which DialCallStatus the action gets when the caller hangs up
# while the legs are still ringing. The child legs end as `canceled` (the same
# final state Twilio documents for a child call cancelled before answer by the
# parent's hangupOnStar), and the Dial action reports the legs' state, so we
# send `canceled`. An app must look at CallStatus=completed, not at this.
DIAL_STATUS_WHEN_CALLER_HANGS_UP_RINGING = "canceled"


# ---------------------------------------------------------------- caller input

@dataclass(frozen=True)
class Speech:
    """What a person says to a <Gather input="speech">."""

    text: str
    confidence: float = 0.92


class _Silence:
    """Nothing at all: the Gather times out; a Record gets an empty recording."""

    _instance: "_Silence | None" = None

    def __new__(cls) -> "_Silence":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SILENCE"


SILENCE = _Silence()

Input = Union[str, Speech, _Silence]   # a str is DTMF keys, e.g. "1" or "1234#"


# ------------------------------------------------------------ responder script

@dataclass(frozen=True)
class Leg:
    """What happens when Twilio rings one number.

    `outcome` is what the network reports: "no-answer" (rings until the Dial's
    timeout), "busy", "failed" (cannot be routed), or "answer". An answering
    leg then hears the whisper (<Number url>) and gives `inputs`, one per
    <Gather> it meets, in order (running out means silence). A voicemail box
    is an answering leg that presses nothing.
    """

    outcome: str
    inputs: tuple[Input, ...] = ()
    hangs_up_during_whisper: bool = False
    answer_after: int = 5        # seconds of ringing before the pick-up
    talk_seconds: int = 60       # length of the conversation once bridged

    def __post_init__(self) -> None:
        if self.outcome not in ("no-answer", "busy", "failed", "answer"):
            raise ValueError(f"unknown leg outcome {self.outcome!r}")


NO_ANSWER = Leg("no-answer")
BUSY = Leg("busy")
FAILED = Leg("failed")
ANSWER_SILENT = Leg("answer")            # a person who presses nothing, or a voicemail box
VOICEMAIL_BOX = ANSWER_SILENT
HANG_UP_DURING_WHISPER = Leg("answer", hangs_up_during_whisper=True)


def ANSWER_AND_PRESS(*inputs: Input, answer_after: int = 5, talk_seconds: int = 60) -> Leg:  # noqa: N802
    """A person answers, hears the whisper and presses `inputs` (one per Gather)."""
    return Leg("answer", inputs=tuple(inputs), answer_after=answer_after,
               talk_seconds=talk_seconds)


LegScript = Union[Leg, Sequence[Leg]]    # a sequence: one Leg per time the number is dialed


# ------------------------------------------------------------------ transcript

@dataclass
class Exchange:
    """One request Twilio made, and what the app answered."""

    leg: str                     # "caller", a dialed number, or "callback"
    method: str
    path: str                    # path and query, as posted
    params: list[tuple[str, str]]
    status: int
    body: str
    document: ET.Element | None  # the parsed TwiML, when Twilio reads TwiML from it

    @property
    def form(self) -> dict[str, str]:
        return dict(self.params)


@dataclass
class LegOutcome:
    """One number rung by one <Dial>."""

    number: str
    call_sid: str
    status: str = "queued"       # the child call's final status
    answered: bool = False
    bridged: bool = False
    whisper_end: str | None = None   # "end-of-document", "hangup", "responder-hung-up", "cancelled"
    heard: list[str] = field(default_factory=list)
    answered_at: float | None = None
    ended_at: float | None = None

    @property
    def duration(self) -> int:
        if self.answered_at is None or self.ended_at is None:
            return 0
        return int(round(self.ended_at - self.answered_at))


@dataclass
class DialOutcome:
    """One <Dial> on the caller's leg."""

    numbers: list[str]
    legs: list[LegOutcome]
    dial_call_status: str = ""
    bridged_to: str | None = None
    caller_hung_up: bool = False


@dataclass
class Recording:
    """One <Record> the caller went through."""

    sid: str
    url: str
    duration: int
    text: str | None             # None: empty recording (RecordingStatus=absent)
    ended_by: str                # the Digits value: a key, or "hangup"


@dataclass
class CallTranscript:
    """Everything that happened on one call, in order."""

    call_sid: str
    exchanges: list[Exchange] = field(default_factory=list)
    # (who, what, detail): who is "caller" or a number; what is say/play/pause/beep/digits/...
    events: list[tuple[str, str, str]] = field(default_factory=list)
    dial_outcomes: list[DialOutcome] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    # (who, voice, language, text) of every <Say>; (who, "play", None, url) of every <Play>
    spoken: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)
    ended: str | None = None     # hangup, end-of-document, caller-hung-up, rejected
    duration: int = 0

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        """(path, params) of every request Twilio made, in order."""
        return [(e.path, e.form) for e in self.exchanges]

    @property
    def documents(self) -> list[tuple[str, ET.Element]]:
        """(path, <Response>) of every TwiML document Twilio read, in order."""
        return [(e.path, e.document) for e in self.exchanges if e.document is not None]

    @property
    def heard(self) -> list[str]:
        """The text of every <Say> the caller heard, in order."""
        return [detail for who, what, detail in self.events if who == "caller" and what == "say"]

    def responder_heard(self, number: str) -> list[str]:
        """The text of every <Say> played to `number` (its whispers), in order."""
        return [detail for who, what, detail in self.events if who == number and what == "say"]

    @property
    def dials(self) -> list[list[str]]:
        """The numbers rung by each <Dial>, in order."""
        return [list(d.numbers) for d in self.dial_outcomes]

    @property
    def connected_to(self) -> str | None:
        """The number the caller was last bridged to, if any."""
        bridged = [d.bridged_to for d in self.dial_outcomes if d.bridged_to]
        return bridged[-1] if bridged else None

    @property
    def recorded(self) -> bool:
        """Whether the caller left a (non-empty) recording."""
        return any(r.text is not None for r in self.recordings)

    def params_of(self, path: str) -> list[dict[str, str]]:
        """The params of every request to `path` (compared without the query string)."""
        return [e.form for e in self.exchanges if e.path.split("?", 1)[0] == path]

    @property
    def paths(self) -> list[str]:
        return [e.path for e in self.exchanges]


# ------------------------------------------------------------------- internals

@dataclass
class _Pending:
    """A callback Twilio will send after the call (recording, transcription)."""

    url: str
    method: str
    params: list[tuple[str, str]]


@dataclass
class _Next:
    """Where a verb sent the leg: a new document, or the end of the call."""

    document: tuple[ET.Element, str] | None = None
    ended: str | None = None


@dataclass
class _LegContext:
    """One leg executing TwiML: the caller's, or a called responder's whisper."""

    who: str                          # "caller" or the dialed number
    whisper: bool
    inputs: list[Input]
    params: Callable[[], list[tuple[str, str]]]
    ended: str | None = None
    hangs_up_during_whisper: bool = False
    outcome: LegOutcome | None = None

    def next_input(self) -> Input:
        return self.inputs.pop(0) if self.inputs else SILENCE


@dataclass
class _DialLeg:
    outcome: LegOutcome
    script: Leg
    url: str | None
    method: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]
    from_: str
    clock: float = 0.0
    ready_to_bridge: bool = False
    sequence: int = 0


def _attr_int(element: ET.Element, name: str, default: int) -> int:
    value = element.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise AssertionError(f"<{element.tag} {name}={value!r}>: not an integer") from None


def _method(element: ET.Element, name: str = "method") -> str:
    method = (element.get(name) or "POST").upper()
    if method not in ("GET", "POST"):
        raise AssertionError(f"<{element.tag} {name}={method!r}>: Twilio only knows GET and POST")
    return method


def _events(value: str | None, default: str) -> frozenset[str]:
    return frozenset(part for part in re.split(r"[\s,]+", value or default) if part)


def _text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _say_seconds(text: str) -> float:
    return max(1.0, math.ceil(len(text.split()) * SECONDS_PER_WORD))


def _e164(number: str) -> str:
    """Twilio accepts unformatted US numbers in <Number>; key legs by E.164."""
    number = number.strip()
    if number.startswith("+"):
        return "+" + re.sub(r"\D", "", number)
    digits = re.sub(r"\D", "", number)
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return number


def _rfc2822(moment: datetime) -> str:
    return email.utils.format_datetime(moment)


def _twiml_checker():
    """`tests/twiml_check.py`'s check_twiml if it exists yet, else None.

    Imported lazily so this module works before (and without) that helper; a
    helper that exists but fails to import is an error, not a silent fallback.
    """
    if importlib.util.find_spec(f"{__package__}.twiml_check") is None:
        return None
    return importlib.import_module(f"{__package__}.twiml_check").check_twiml


def parse_twiml(body: str, *, whisper: bool = False) -> ET.Element:
    """Parse (and, when twiml_check exists, check) one voice TwiML document."""
    check = _twiml_checker()
    if check is not None:
        return check(body, whisper=whisper)
    try:
        root = ET.fromstring(body.encode("utf-8"))
    except ET.ParseError as error:
        raise AssertionError(f"TwiML is not well-formed XML ({error}):\n{body}") from None
    if root.tag != "Response":
        raise AssertionError(f"TwiML root must be <Response>, not <{root.tag}>:\n{body}")
    return root


# ------------------------------------------------------------------- simulator

class CallSimulator:
    """Places one inbound call into the app and plays Twilio's part to the end.

    legs: {number: Leg or [Leg, ...]}: what each called number does; a list
        scripts successive Dials of the same number (the last one repeats).
        Numbers not listed ring out (NO_ANSWER).
    caller_input: one item per <Gather> on the caller's leg: DTMF keys as a
        str ("1", "42#"), Speech("..."), or SILENCE. Running out is SILENCE.
    voicemail: what the caller does at a <Record>: a str is a spoken message
        (followed by `voicemail_ends_with`: "hangup", or a key such as "#");
        SILENCE waits silently until the Record times out; None hangs up
        without a word.
    hang_up_after_steps: the caller hangs up during the verb that follows
        this many verbs executed on the caller's leg (nested <Say>s in a
        <Gather> are part of the Gather). hang_up_during_dial: the caller
        hangs up while the n-th <Dial> (1-based) is ringing.
        hang_up_when_hearing: the caller hangs up as soon as a <Say> whose
        text contains this starts (on its own or nested in a <Gather>):
        whatever that document had next never runs.
    caller_stays_after_bridge: after a bridged conversation the responder
        hangs up first and the caller is still on the line, so the Dial's
        action TwiML (or the next verb) runs. By default the caller hangs up.
    status_callback_path: where Twilio posts the call's final status, as if
        configured on the number in the console (None: no callback).
    """

    def __init__(self, driver: TwilioDriver, *, caller: str, line_number: str,
                 legs: Mapping[str, LegScript] | None = None,
                 caller_input: Sequence[Input] = (),
                 account_sid: str = ACCOUNT_SID,
                 voicemail: str | _Silence | None = "Hi, this is a test message. Please call me back.",
                 voicemail_ends_with: str = "hangup",
                 hang_up_after_steps: int | None = None,
                 hang_up_during_dial: int | None = None,
                 hang_up_when_hearing: str | None = None,
                 caller_stays_after_bridge: bool = False,
                 status_callback_path: str | None = None,
                 incoming_path: str = "/voice/incoming",
                 call_sid: str | None = None,
                 started_at: datetime | None = None,
                 caller_country: str = "US"):
        self.driver = driver
        self.base = driver.public_base_url.rstrip("/")
        self.caller = caller
        self.line_number = line_number
        self.legs = {_e164(number): script for number, script in (legs or {}).items()}
        self.caller_input = list(caller_input)
        self.account_sid = account_sid
        self.voicemail = voicemail
        self.voicemail_ends_with = voicemail_ends_with
        self.hang_up_after_steps = hang_up_after_steps
        self.hang_up_during_dial = hang_up_during_dial
        self.hang_up_when_hearing = hang_up_when_hearing
        self.caller_stays_after_bridge = caller_stays_after_bridge
        self.status_callback_path = status_callback_path
        self.incoming_path = incoming_path
        self.call_sid = call_sid or sid("CA")
        self.started_at = started_at or datetime(2025, 1, 6, 15, 0, 0, tzinfo=timezone.utc)
        self.caller_country = caller_country

        self.transcript = CallTranscript(call_sid=self.call_sid)
        self.clock = 0.0                      # seconds since the call came in
        self.call_status = "ringing"
        self.steps = 0
        self._max_steps = 50
        self._dial_count = 0
        self._times_dialed: dict[str, int] = {}
        self._pending_recordings: list[_Pending] = []
        self._pending_transcriptions: list[_Pending] = []
        self._ran = False

    # ------------------------------------------------------------ public API

    async def run(self, max_steps: int = 50) -> CallTranscript:
        """Place the call and follow the app's TwiML until the call ends."""
        assert not self._ran, "a CallSimulator places one call; make a new one"
        self._ran = True
        self._max_steps = max_steps
        caller = _LegContext(who="caller", whisper=False, inputs=list(self.caller_input),
                             params=self._caller_params)
        async with aclosing(self._execute(caller, self.base + self.incoming_path, "POST")) as verbs:
            async for seconds in verbs:
                self.clock += seconds
        self.transcript.ended = caller.ended
        self.transcript.duration = int(round(self.clock))
        self.call_status = "completed"
        if self.status_callback_path is not None:
            await self._post_call_status_callback(caller.ended)
        return self.transcript

    @property
    def pending_recording_callbacks(self) -> list[_Pending]:
        return list(self._pending_recordings)

    @property
    def pending_transcription_callbacks(self) -> list[_Pending]:
        return list(self._pending_transcriptions)

    async def deliver_recording(self) -> list[WebhookResponse]:
        """Send the pending recordingStatusCallback(s), as Twilio does after the call."""
        assert self._pending_recordings, (
            "no recording status callback is pending: no <Record recordingStatusCallback>, "
            "or an empty recording whose recordingStatusCallbackEvent lacks 'absent'")
        pending, self._pending_recordings = self._pending_recordings, []
        return [await self._callback(p) for p in pending]

    async def deliver_transcription(self) -> list[WebhookResponse]:
        """Send the pending transcribeCallback(s), as Twilio does after the call."""
        assert self._pending_transcriptions, (
            "no transcription callback is pending: no <Record transcribeCallback>, "
            "or the recording was empty")
        pending, self._pending_transcriptions = self._pending_transcriptions, []
        return [await self._callback(p) for p in pending]

    # ------------------------------------------------------------ parameters

    def _caller_params(self) -> list[tuple[str, str]]:
        """The parameters Twilio sends with every request about the caller's leg."""
        geo_from = [("CallerCity", "SAN DIEGO"), ("CallerCountry", self.caller_country),
                    ("CallerState", "CA"), ("CallerZip", "92101")]
        geo_to = [("CalledCity", "SAN DIEGO"), ("CalledCountry", "US"),
                  ("CalledState", "CA"), ("CalledZip", "92101")]
        return [
            ("AccountSid", self.account_sid), ("ApiVersion", API_VERSION),
            ("CallSid", self.call_sid), ("CallStatus", self.call_status),
            ("Called", self.line_number), *geo_to,
            ("Caller", self.caller), *geo_from,
            ("Direction", "inbound"),
            ("From", self.caller), ("FromCity", "SAN DIEGO"), ("FromCountry", self.caller_country),
            ("FromState", "CA"), ("FromZip", "92101"),
            ("To", self.line_number), ("ToCity", "SAN DIEGO"), ("ToCountry", "US"),
            ("ToState", "CA"), ("ToZip", "92101"),
        ]

    def _child_params(self, leg: _DialLeg, status: str) -> list[tuple[str, str]]:
        """The parameters of a <Dial>ed child leg (whisper fetches, its callbacks)."""
        number = leg.outcome.number
        return [
            ("AccountSid", self.account_sid), ("ApiVersion", API_VERSION),
            ("CallSid", leg.outcome.call_sid), ("CallStatus", status),
            ("Called", number), ("Caller", leg.from_), ("Direction", "outbound-dial"),
            ("From", leg.from_), ("ParentCallSid", self.call_sid), ("To", number),
        ]

    def _moment(self, offset: float = 0.0) -> datetime:
        return self.started_at + timedelta(seconds=self.clock + offset)

    # ------------------------------------------------------------- transport

    def _path_of(self, url: str) -> str:
        """The path+query to request for an absolute URL under the public base URL."""
        parts = urlsplit(url)
        # Twilio reads the fragment (#rc=...) as its own retry settings; it is
        # never part of the request.
        absolute = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        if not (absolute == self.base or absolute.startswith(self.base + "/")
                or absolute.startswith(self.base + "?")):
            raise AssertionError(f"TwiML sends Twilio to {url!r}, outside the service's "
                                 f"public base URL {self.base!r}")
        return absolute[len(self.base):] or "/"

    @staticmethod
    def _resolve(document_url: str, url: str | None) -> str:
        """A TwiML URL resolved as Twilio does: relative to the document's URL."""
        if url is None or not url.strip():
            return document_url
        return urljoin(document_url, url.strip())

    async def _send(self, url: str, method: str, params: list[tuple[str, str]]) -> tuple[str, WebhookResponse]:
        path = self._path_of(url)
        if method == "POST":
            response = await self.driver.post(path, params,
                                              headers={"Content-Type": VOICE_CONTENT_TYPE})
            return path, response
        # GET: Twilio appends the parameters to the URL's query and signs the URL alone.
        path = path + ("&" if "?" in path else "?") + urlencode(params)
        full_url = self.base + path
        headers = {**TWILIO_HEADERS, "I-Twilio-Idempotency-Token": sid("")[:32],
                   "X-Twilio-Signature": sign(self.driver.auth_token, full_url, [])}
        raw = await self.driver.client.get(path, headers=headers)
        body = await raw.get_data(as_text=True)
        return path, WebhookResponse(raw.status_code, body, raw.content_type or "")

    async def _fetch_twiml(self, ctx: _LegContext, url: str, method: str,
                           extra: Sequence[tuple[str, str]] = (),
                           params: list[tuple[str, str]] | None = None) -> ET.Element:
        """Request a TwiML document for a leg; fail loudly on anything Twilio would reject."""
        params = (params if params is not None else ctx.params()) + list(extra)
        path, response = await self._send(url, method, params)
        exchange = Exchange(ctx.who, method, path, params, response.status, response.body, None)
        self.transcript.exchanges.append(exchange)
        if response.status != 200:
            raise AssertionError(f"{method} {path} answered HTTP {response.status} "
                                 f"(Twilio error 11200/11217):\n{response.body}")
        content_type = response.content_type.split(";", 1)[0].strip().lower()
        if content_type not in TWIML_CONTENT_TYPES:
            raise AssertionError(f"{method} {path} answered Content-Type "
                                 f"{response.content_type!r}, not TwiML (Twilio error 12300):\n"
                                 f"{response.body}")
        exchange.document = parse_twiml(response.body, whisper=ctx.whisper)
        return exchange.document

    async def _callback(self, pending: _Pending, who: str = "callback") -> WebhookResponse:
        """A status-style callback: Twilio reads nothing from the answer but its status."""
        path, response = await self._send(pending.url, pending.method, pending.params)
        self.transcript.exchanges.append(Exchange(who, pending.method, path, pending.params,
                                                  response.status, response.body, None))
        if not 200 <= response.status < 300:
            raise AssertionError(f"{pending.method} {path} (a callback) answered HTTP "
                                 f"{response.status}:\n{response.body}")
        return response

    # ------------------------------------------------------------- execution

    async def _execute(self, ctx: _LegContext, url: str, method: str,
                       extra: Sequence[tuple[str, str]] = ()) -> AsyncIterator[float]:
        """Fetch `url` and run its verbs on the leg, following every new
        document, until the leg ends. Yields the seconds each verb takes."""
        root = await self._fetch_twiml(ctx, url, method, extra)
        if ctx.who == "caller":
            self.call_status = "in-progress"   # Twilio answered the call to run the TwiML
        document_url = url
        whisper_verbs = 0
        while True:
            following: _Next | None = None
            for verb in root:
                tag = verb.tag
                if ctx.who == "caller":
                    self.steps += 1
                    if self.steps > self._max_steps:
                        raise AssertionError(f"the call ran more than {self._max_steps} verbs "
                                             f"without ending: a loop? last document "
                                             f"{document_url}")
                    if (self.hang_up_after_steps is not None
                            and self.steps > self.hang_up_after_steps):
                        async with aclosing(self._caller_hangs_up_during(
                                ctx, verb, document_url)) as steps:
                            async for seconds in steps:
                                yield seconds
                        ctx.ended = "caller-hung-up"
                        return
                else:
                    whisper_verbs += 1
                    if whisper_verbs > MAX_WHISPER_VERBS:
                        raise AssertionError(f"the whisper on {ctx.who} ran more than "
                                             f"{MAX_WHISPER_VERBS} verbs: a loop?")
                    if ctx.hangs_up_during_whisper:
                        self._event(ctx, "hung-up", tag)
                        yield 1
                        ctx.ended = "responder-hung-up"
                        return

                if tag in ("Say", "Play", "Pause"):
                    if self._hangs_up_hearing(ctx, verb):
                        yield 1
                        ctx.ended = "caller-hung-up"
                        return
                    yield self._hear(ctx, verb)
                    continue
                if tag == "Hangup":
                    ctx.ended = "hangup"
                    return
                outcome = _Next()
                if tag == "Gather":
                    async with aclosing(self._gather(ctx, verb, document_url, outcome)) as steps:
                        async for seconds in steps:
                            yield seconds
                elif tag == "Redirect":
                    target = self._resolve(document_url, verb.text)
                    outcome.document = (await self._fetch_twiml(ctx, target, _method(verb)),
                                        target)
                elif ctx.whisper:
                    # Twilio: TwiML on the called party's leg may not <Dial>; <Record>,
                    # <Enqueue> and the rest are not simulated there either.
                    raise AssertionError(f"<{tag}> in the whisper TwiML on {ctx.who}'s leg: "
                                         f"Twilio does not run it there")
                elif tag == "Dial":
                    async with aclosing(self._dial(ctx, verb, document_url, outcome)) as steps:
                        async for seconds in steps:
                            yield seconds
                elif tag == "Record":
                    async with aclosing(self._record(ctx, verb, document_url, outcome)) as steps:
                        async for seconds in steps:
                            yield seconds
                elif tag == "Reject":
                    ctx.ended = "rejected"
                    return
                else:
                    raise AssertionError(f"the call simulator does not know the verb <{tag}> "
                                         f"(in {document_url})")
                if outcome.ended:
                    ctx.ended = outcome.ended
                    return
                if outcome.document is not None:
                    following = outcome
                    break
                # no new document: the leg carries on with the next verb
            if following is None:
                ctx.ended = "end-of-document"
                return
            root, document_url = following.document

    def _event(self, ctx: _LegContext, what: str, detail: str) -> None:
        self.transcript.events.append((ctx.who, what, detail))
        if ctx.outcome is not None and what == "say":
            ctx.outcome.heard.append(detail)

    def _hangs_up_hearing(self, ctx: _LegContext, verb: ET.Element) -> bool:
        """Whether the scripted caller hangs up as this <Say> starts."""
        if (ctx.who != "caller" or verb.tag != "Say" or not self.hang_up_when_hearing
                or self.hang_up_when_hearing not in _text(verb)):
            return False
        self._event(ctx, "hung-up", "Say")
        return True

    def _hear(self, ctx: _LegContext, verb: ET.Element) -> float:
        """Say/Play/Pause: what the leg hears, and how long it takes."""
        if verb.tag == "Say":
            text = _text(verb)
            self._event(ctx, "say", text)
            self.transcript.spoken.append((ctx.who, verb.get("voice"), verb.get("language"), text))
            return _say_seconds(text)
        if verb.tag == "Play":
            if verb.get("digits"):
                self._event(ctx, "play-digits", verb.get("digits"))
                return 1
            self._event(ctx, "play", (verb.text or "").strip())
            self.transcript.spoken.append((ctx.who, "play", None, (verb.text or "").strip()))
            return PLAY_SECONDS
        length = _attr_int(verb, "length", 1)
        self._event(ctx, "pause", str(length))
        return length

    async def _gather(self, ctx: _LegContext, verb: ET.Element, document_url: str,
                      outcome: _Next) -> AsyncIterator[float]:
        """<Gather>: play the nested prompts, take the leg's next input, and
        post it to the action; with no input carry on with the next verb
        (unless actionOnEmptyResult="true")."""
        if verb.get("partialResultCallback"):
            raise AssertionError("<Gather partialResultCallback> is not simulated")
        modes = set((verb.get("input") or "dtmf").split())
        timeout = _attr_int(verb, "timeout", 5)
        num_digits = _attr_int(verb, "numDigits", 0)
        finish_on_key = verb.get("finishOnKey", "#")
        for child in verb:
            if child.tag not in ("Say", "Play", "Pause"):
                raise AssertionError(f"<{child.tag}> nested in <Gather>: Twilio allows only "
                                     f"<Say>, <Play> and <Pause> there")
            if self._hangs_up_hearing(ctx, child):
                # UNDOCUMENTED: whether Twilio requests the Gather's action when
                # the caller hangs up during it. Twilio documents the action as
                # the caller finishing their input; we request nothing, so an
                # app must learn of the hang-up from the status callback.
                yield 1
                outcome.ended = "caller-hung-up"
                return
            yield self._hear(ctx, child)

        given = ctx.next_input()
        extra: list[tuple[str, str]] = []
        if isinstance(given, str) and "dtmf" in modes:
            digits = ""
            for key in given:
                if finish_on_key and key in finish_on_key:
                    break
                digits += key
                if num_digits and len(digits) == num_digits:
                    break
            self._event(ctx, "digits", given)
            yield SECONDS_PER_KEY * max(1, len(given))
            # UNDOCUMENTED: pressing only the finishOnKey counts as no input.
            if digits:
                extra = [("Digits", digits)]
        elif isinstance(given, Speech) and "speech" in modes:
            self._event(ctx, "speech", given.text)
            yield SPEECH_SECONDS
            extra = [("SpeechResult", given.text), ("Confidence", f"{given.confidence:.8f}")]
        else:
            # Silence, or input of a kind this Gather does not listen for.
            yield timeout
        if not extra and verb.get("actionOnEmptyResult", "false").lower() != "true":
            return
        # UNDOCUMENTED: with actionOnEmptyResult and no input, we send neither
        # Digits nor SpeechResult (an app must treat a missing Digits as empty).
        action = self._resolve(document_url, verb.get("action"))
        outcome.document = (await self._fetch_twiml(ctx, action, _method(verb), extra), action)

    async def _caller_hangs_up_during(self, ctx: _LegContext, verb: ET.Element,
                                      document_url: str) -> AsyncIterator[float]:
        """The scripted caller hangs up as `verb` starts. Twilio stops executing
        TwiML; a <Dial> still reports to its action, a <Record> is empty."""
        if verb.tag == "Dial":       # _dial writes the hang-up event itself
            async with aclosing(self._dial(ctx, verb, document_url, _Next(),
                                           caller_hangs_up=True)) as steps:
                async for seconds in steps:
                    yield seconds
            return
        self._event(ctx, "hung-up", verb.tag)
        if verb.tag == "Record":
            async with aclosing(self._record(ctx, verb, document_url, _Next(),
                                             caller_hangs_up=True)) as steps:
                async for seconds in steps:
                    yield seconds
        else:
            yield 1

    # ------------------------------------------------------------------ Dial

    def _script_for(self, number: str) -> Leg:
        script = self.legs.get(number, NO_ANSWER)
        if isinstance(script, Leg):
            return script
        scripts = list(script)
        n = self._times_dialed.get(number, 0)
        return scripts[min(n, len(scripts) - 1)] if scripts else NO_ANSWER

    def _dial_legs(self, verb: ET.Element, document_url: str) -> list[_DialLeg]:
        from_ = verb.get("callerId") or self.caller
        nouns = list(verb)
        if not nouns and (verb.text or "").strip():
            nouns = [ET.Element("Number")]
            nouns[0].text = verb.text
        if not nouns:
            raise AssertionError(f"<Dial> with nothing to dial (in {document_url})")
        legs = []
        for noun in nouns:
            if noun.tag != "Number":
                raise AssertionError(f"<Dial><{noun.tag}> is not simulated (only <Number>)")
            for attribute in ("machineDetection", "amdStatusCallback"):
                if noun.get(attribute):
                    raise AssertionError(f"<Number {attribute}> is not simulated")
            number = _e164(noun.text or "")
            url = noun.get("url")
            callback = noun.get("statusCallback")
            legs.append(_DialLeg(
                outcome=LegOutcome(number=number, call_sid=sid("CA")),
                script=self._script_for(number),
                url=self._resolve(document_url, url) if url else None,
                method=_method(noun),
                status_callback=self._resolve(document_url, callback) if callback else None,
                status_callback_method=_method(noun, "statusCallbackMethod"),
                status_callback_events=_events(noun.get("statusCallbackEvent"), "completed"),
                from_=from_))
        for leg in legs:
            self._times_dialed[leg.outcome.number] = self._times_dialed.get(leg.outcome.number, 0) + 1
        if len(legs) > MAX_NUMBERS_PER_DIAL:
            raise AssertionError(f"<Dial> with {len(legs)} numbers: Twilio rings at most "
                                 f"{MAX_NUMBERS_PER_DIAL}")
        return legs

    async def _leg_event(self, leg: _DialLeg, event: str, status: str, at: float) -> None:
        """A <Number statusCallback> event, if the app asked for this one."""
        if leg.status_callback is None or event not in leg.status_callback_events:
            return
        params = self._child_params(leg, status) + [
            ("Timestamp", _rfc2822(self._moment(at))),
            ("SequenceNumber", str(leg.sequence)),
            ("CallbackSource", "call-progress-events"),
        ]
        if event == "completed":
            params.append(("CallDuration", str(leg.outcome.duration)))
        leg.sequence += 1
        await self._callback(_Pending(leg.status_callback, leg.status_callback_method, params),
                             who=leg.outcome.number)

    async def _leg_life(self, leg: _DialLeg, timeout: int) -> AsyncIterator[float]:
        """One rung number, from the first ring to the moment it bridges or
        ends. Yields seconds; the Dial's scheduler interleaves legs by them."""
        script, outcome = leg.script, leg.outcome
        await self._leg_event(leg, "initiated", "initiated", leg.clock)
        if script.outcome == "failed":
            outcome.status = "failed"
            return
        if script.outcome == "busy":
            yield BUSY_AFTER_SECONDS
            outcome.status = "busy"
            return
        outcome.status = "ringing"
        await self._leg_event(leg, "ringing", "ringing", leg.clock)
        if script.outcome == "no-answer" or script.answer_after >= timeout:
            yield timeout
            outcome.status = "no-answer"
            return
        yield script.answer_after
        outcome.answered, outcome.answered_at, outcome.status = True, leg.clock, "in-progress"
        await self._leg_event(leg, "answered", "in-progress", leg.clock)
        if leg.url is None:
            leg.ready_to_bridge = True
            return
        whisper = _LegContext(who=outcome.number, whisper=True, inputs=list(script.inputs),
                              params=lambda: self._child_params(leg, "in-progress"),
                              hangs_up_during_whisper=script.hangs_up_during_whisper,
                              outcome=outcome)
        async with aclosing(self._execute(whisper, leg.url, leg.method)) as verbs:
            async for seconds in verbs:
                yield seconds
        outcome.whisper_end = whisper.ended
        # Twilio: the whisper runs "after they answer, but before the parties
        # are connected"; a whisper that runs to its end connects them, one
        # that reaches <Hangup> (or whose callee hangs up) ends that leg alone.
        if whisper.ended == "end-of-document":
            leg.ready_to_bridge = True
        else:
            outcome.status = "completed"

    async def _dial(self, ctx: _LegContext, verb: ET.Element, document_url: str, outcome: _Next,
                    *, caller_hangs_up: bool = False) -> AsyncIterator[float]:
        """<Dial>: ring every number at once, run whispers on the legs that
        answer, bridge the first leg whose whisper completes, cancel the rest,
        then report to the action (or carry on with the next verb)."""
        for attribute in ("record", "recordingStatusCallback"):
            if verb.get(attribute, "do-not-record" if attribute == "record" else "") not in (
                    "", "do-not-record", "false"):
                raise AssertionError(f"<Dial {attribute}> is not simulated")
        self._dial_count += 1
        if self.hang_up_during_dial == self._dial_count:
            caller_hangs_up = True
        timeout = _attr_int(verb, "timeout", 30)
        legs = self._dial_legs(verb, document_url)
        dial = DialOutcome(numbers=[leg.outcome.number for leg in legs],
                           legs=[leg.outcome for leg in legs])
        self.transcript.dial_outcomes.append(dial)
        if caller_hangs_up:
            self._event(ctx, "hung-up", "Dial")

        # A discrete-event run of the legs on the Dial's own clock: always step
        # the leg whose next moment is earliest, so whatever one leg does
        # before another connects has happened, and nothing after.
        lives = [self._leg_life(leg, timeout) for leg in legs]
        try:
            winner, end, active = await self._ring(legs, lives, caller_hangs_up, dial)
            # The first leg to connect wins; Twilio hangs up every other leg.
            for i in sorted(active):
                leg = legs[i]
                await lives[i].aclose()
                leg.outcome.ended_at = end
                if leg.outcome.answered:
                    leg.outcome.status = "completed"
                    leg.outcome.whisper_end = leg.outcome.whisper_end or "cancelled"
                else:
                    leg.outcome.status = "canceled"
                await self._leg_event(leg, "completed", leg.outcome.status, end)
        finally:
            for life in lives:
                await life.aclose()

        if winner is not None:
            winner.outcome.bridged = True
            dial.bridged_to = winner.outcome.number
            self._event(ctx, "connected", winner.outcome.number)
            end += winner.script.talk_seconds
            winner.outcome.status = "completed"
            winner.outcome.ended_at = end
            await self._leg_event(winner, "completed", "completed", end)

        dial.dial_call_status = self._dial_call_status(dial)
        yield end

        caller_gone = dial.caller_hung_up or (winner is not None
                                              and not self.caller_stays_after_bridge)
        if caller_gone:
            self.call_status = "completed"
        action = verb.get("action")
        if action is not None:
            action_url = self._resolve(document_url, action)
            reported = winner.outcome if winner else self._reported_leg(dial)
            extra = [("DialCallStatus", dial.dial_call_status),
                     ("DialCallSid", reported.call_sid),
                     ("DialCallDuration", str(reported.duration)),
                     ("DialBridged", "true" if winner else "false")]
            document = await self._fetch_twiml(ctx, action_url, _method(verb), extra)
            if not caller_gone:
                outcome.document = (document, action_url)
        if caller_gone:
            # The caller is gone: whatever the action answered is never run.
            outcome.ended = "caller-hung-up"

    async def _ring(self, legs: list[_DialLeg], lives: list, caller_hangs_up: bool,
                    dial: DialOutcome) -> tuple[_DialLeg | None, float, set[int]]:
        """Run the legs until one is ready to bridge, all have ended, or the
        caller gives up. Returns (winner, the Dial's end time, legs still live)."""
        queue = [(0.0, i) for i in range(len(legs))]
        heapq.heapify(queue)
        gives_up_at = CALLER_GIVES_UP_AFTER_SECONDS if caller_hangs_up else math.inf
        active = set(range(len(legs)))
        end = 0.0
        while queue:
            at, i = heapq.heappop(queue)
            if at >= gives_up_at:
                dial.caller_hung_up = True
                return None, gives_up_at, active
            leg = legs[i]
            leg.clock = at
            end = max(end, at)
            try:
                seconds = await lives[i].__anext__()
            except StopAsyncIteration:
                active.discard(i)
                leg.outcome.ended_at = at
                if leg.ready_to_bridge:
                    return leg, at, active
                await self._leg_event(leg, "completed", leg.outcome.status, at)
                continue
            heapq.heappush(queue, (at + seconds, i))
        if caller_hangs_up:
            # Every leg failed before the caller meant to give up: the caller
            # hangs up as the Dial ends, so the action still sees CallStatus=completed.
            dial.caller_hung_up = True
        return None, end, active

    @staticmethod
    def _reported_leg(dial: DialOutcome) -> LegOutcome:
        """UNDOCUMENTED: which leg DialCallSid/DialCallDuration describe when no
        leg was bridged. Twilio documents DialCallSid as "the call sid of the
        new call leg" and omits it only for conferences, so we always send it:
        the first leg that answered, else the first leg dialed (duration 0)."""
        answered = [leg for leg in dial.legs if leg.answered]
        return answered[0] if answered else dial.legs[0]

    @staticmethod
    def _dial_call_status(dial: DialOutcome) -> str:
        """DialCallStatus for the whole <Dial>.

        Documented: `completed` when a leg answered and was connected, also when
        a voicemail box answered. UNDOCUMENTED, our choices: a leg that answered
        but was dropped by its whisper (<Hangup>, or the callee hung up) still
        counts as answered, so `completed` with DialBridged=false; with no leg
        answered, a caller hang-up gives DIAL_STATUS_WHEN_CALLER_HANGS_UP_RINGING,
        else the "most hopeful" leg status wins: no-answer (something rang the
        whole timeout) over busy over failed.
        """
        statuses = [leg.status for leg in dial.legs]
        if any(leg.answered for leg in dial.legs):
            return "completed"
        if dial.caller_hung_up and "canceled" in statuses:
            return DIAL_STATUS_WHEN_CALLER_HANGS_UP_RINGING
        for status in ("no-answer", "busy", "failed"):
            if status in statuses:
                return status
        raise AssertionError(f"legs ended in unexpected states {statuses}")

    # ---------------------------------------------------------------- Record

    async def _record(self, ctx: _LegContext, verb: ET.Element, document_url: str,
                      outcome: _Next, *, caller_hangs_up: bool = False) -> AsyncIterator[float]:
        """<Record>: the caller leaves `voicemail` (or nothing). Twilio posts
        the action with the recording — except for an empty recording, when it
        requests nothing and runs the next verb. The recording status and
        transcription callbacks come later: see deliver_recording()."""
        timeout = _attr_int(verb, "timeout", 5)
        max_length = _attr_int(verb, "maxLength", 3600) or 3600
        finish_on_key = verb.get("finishOnKey", "1234567890*#")
        callback = verb.get("recordingStatusCallback")
        callback_events = _events(verb.get("recordingStatusCallbackEvent"), "completed")
        transcribe_callback = verb.get("transcribeCallback")
        if verb.get("playBeep", "true").lower() != "false":
            self._event(ctx, "beep", "")

        message = None if caller_hangs_up else self.voicemail
        recording_sid = sid("RE")
        recording_url = (f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}"
                         f"/Recordings/{recording_sid}")
        started = self._moment()
        if isinstance(message, str):
            seconds = min(max_length, max(1, math.ceil(len(message.split()) * SECONDS_PER_WORD)))
            ended_by = self.voicemail_ends_with
            if ended_by != "hangup" and (len(ended_by) != 1 or ended_by not in finish_on_key):
                raise AssertionError(f"voicemail_ends_with={ended_by!r} does not end this "
                                     f"<Record finishOnKey={finish_on_key!r}>")
        else:
            seconds, ended_by = 0, "hangup" if message is None else ""
        self.transcript.recordings.append(Recording(
            recording_sid, recording_url, seconds, message if isinstance(message, str) else None,
            ended_by))
        self._event(ctx, "record", message if isinstance(message, str) else "")
        yield seconds if isinstance(message, str) else (timeout if message is SILENCE else 1)

        base = [("AccountSid", self.account_sid), ("CallSid", self.call_sid),
                ("RecordingSid", recording_sid), ("RecordingUrl", recording_url)]
        status = "completed" if isinstance(message, str) else "absent"
        if callback and status in callback_events:
            self._pending_recordings.append(_Pending(
                self._resolve(document_url, callback),
                _method(verb, "recordingStatusCallbackMethod"),
                base + [("RecordingStatus", status), ("RecordingDuration", str(seconds)),
                        ("RecordingChannels", "1"), ("RecordingSource", "RecordVerb"),
                        ("RecordingStartTime", _rfc2822(started))]))

        if not isinstance(message, str):
            # Twilio: "if Twilio receives an empty recording, it will not make a
            # request to the action URL"; the flow goes on with the next verb,
            # unless the caller hung up.
            if message is None:
                outcome.ended = "caller-hung-up"
            return

        if transcribe_callback:
            # transcribeCallback implies transcribe="true"; only a non-empty
            # recording is transcribed.
            self._pending_transcriptions.append(_Pending(
                self._resolve(document_url, transcribe_callback), "POST",
                self._caller_params_with_status("completed") + [
                    ("TranscriptionSid", (transcription := sid("TR"))),
                    ("TranscriptionText", message),
                    ("TranscriptionStatus", "completed"),
                    ("TranscriptionUrl", f"https://api.twilio.com/{API_VERSION}/Accounts/"
                                         f"{self.account_sid}/Transcriptions/{transcription}"),
                    ("RecordingSid", recording_sid), ("RecordingUrl", recording_url),
                ]))

        if ended_by == "hangup":
            self.call_status = "completed"
        action = self._resolve(document_url, verb.get("action"))
        document = await self._fetch_twiml(ctx, action, _method(verb), [
            ("RecordingUrl", recording_url), ("RecordingSid", recording_sid),
            ("RecordingDuration", str(seconds)), ("Digits", ended_by)])
        if ended_by == "hangup":
            outcome.ended = "caller-hung-up"   # the answer is fetched but never run
        else:
            outcome.document = (document, action)

    def _caller_params_with_status(self, status: str) -> list[tuple[str, str]]:
        saved, self.call_status = self.call_status, status
        try:
            return self._caller_params()
        finally:
            self.call_status = saved

    # ------------------------------------------------------------ call ended

    async def _post_call_status_callback(self, ended: str | None) -> None:
        """The number's status callback: only `completed` (Twilio's default event).

        UNDOCUMENTED: a <Reject>ed call never connects; we report it as
        CallStatus=busy for reason="busy" and no-answer otherwise, duration 0.
        """
        status, duration = "completed", self.transcript.duration
        if ended == "rejected":
            status, duration = "no-answer", 0
            rejects = [e for e in self.transcript.exchanges if e.document is not None]
            last = rejects[-1].document.find("Reject") if rejects else None
            if last is not None and last.get("reason") == "busy":
                status = "busy"
        params = self._caller_params_with_status(status) + [
            ("CallDuration", str(duration)),
            ("Timestamp", _rfc2822(self._moment())),
            ("SequenceNumber", "0"),
            ("CallbackSource", "call-progress-events"),
        ]
        await self._callback(_Pending(self.base + self.status_callback_path, "POST", params))

"""The webhook requests the benchmark sends, as Twilio sends them: form POSTs
with Twilio's parameter names (those of tests/support/driver.py), signed with
`twilio.request_validator` for the service's public URL. New texts and calls
come from a new customer number each; ACKs from the responder of
examples/ivr.toml; the Dial action is the one each call's TwiML names."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from typing import Any, Iterable
from urllib.parse import urlencode

import paths  # noqa: F401 - puts tests/ on sys.path for fake_twilio
from tests.support.fake_twilio import ACCOUNT_SID
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
LINE = "+16195550100"
SERGIO = "+16195550101"
BACKUP = "+18585550199"
LOAD_CUSTOMER_PREFIX = "+1415"   # customers of the load runs: +1415 2000000 onwards

Request = list[Any]  # [method, target, body, headers]

_counter = itertools.count(1)
_validator = RequestValidator(AUTH_TOKEN)


def signed(base: str, target: str, params: list[tuple[str, str]]) -> Request:
    signature = _validator.compute_signature(base + target, MultiDict(params))
    return ["POST", target, urlencode(params), [
        ["Content-Type", "application/x-www-form-urlencoded"],
        ["X-Twilio-Signature", signature],
        ["User-Agent", "TwilioProxy/1.1"],
        ["X-Home-Region", "us1"],
        ["I-Twilio-Idempotency-Token", f"{next(_counter):032x}"],
    ]]


def sms_params(from_: str, body: str, message_sid: str) -> list[tuple[str, str]]:
    """An inbound SMS as Twilio posts it (tests/support/driver.py sms_params)."""
    return [
        ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", message_sid),
        ("NumMedia", "0"), ("ToCity", "SAN DIEGO"), ("FromZip", "92101"),
        ("SmsSid", message_sid), ("FromState", "CA"), ("SmsStatus", "received"),
        ("FromCity", "SAN DIEGO"), ("Body", body), ("FromCountry", "US"), ("To", LINE),
        ("ToZip", "92101"), ("NumSegments", "1"), ("MessageSid", message_sid),
        ("AccountSid", ACCOUNT_SID), ("From", from_), ("ApiVersion", "2010-04-01"),
    ]


def call_params(call_sid: str, caller: str, status: str = "ringing") -> list[tuple[str, str]]:
    return [
        ("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("CallSid", call_sid),
        ("CallStatus", status), ("Called", LINE), ("CalledCity", "SAN DIEGO"),
        ("CalledCountry", "US"), ("CalledState", "CA"), ("CalledZip", "92101"),
        ("Caller", caller), ("CallerCity", "SAN FRANCISCO"), ("CallerCountry", "US"),
        ("CallerState", "CA"), ("CallerZip", "94103"), ("Direction", "inbound"),
        ("From", caller), ("FromCity", "SAN FRANCISCO"), ("FromCountry", "US"),
        ("FromState", "CA"), ("FromZip", "94103"), ("To", LINE), ("ToCity", "SAN DIEGO"),
        ("ToCountry", "US"), ("ToState", "CA"), ("ToZip", "92101"),
    ]


class Customers:
    """A new customer number and MessageSid for every text that opens a conversation."""

    def __init__(self) -> None:
        self.next = 2_000_000

    def take(self) -> str:
        self.next += 1
        return f"{LOAD_CUSTOMER_PREFIX}{self.next:07d}"


CUSTOMERS = Customers()


def new_texts(base: str, n: int, tag: str) -> tuple[list[Request], list[str]]:
    """`n` texts from new customers, and their MessageSids. The body carries the
    MessageSid as a token (`bench-SM...`) to find the page at the fake Twilio."""
    requests, sids = [], []
    for _ in range(n):
        sid = f"SM{tag}{next(_counter):030x}"[:34]
        body = f"bench-{sid} the bin by the gate is full"
        requests.append(signed(base, "/sms/incoming", sms_params(CUSTOMERS.take(), body, sid)))
        sids.append(sid)
    return requests, sids


def acks(base: str, n: int) -> list[Request]:
    return [signed(base, "/sms/incoming", sms_params(SERGIO, "ACK", f"SM{next(_counter):032x}"))
            for _ in range(n)]


def new_calls(base: str, n: int) -> tuple[list[Request], list[str]]:
    requests, sids = [], []
    for _ in range(n):
        sid = f"CA{next(_counter):032x}"
        requests.append(signed(base, "/voice/incoming", call_params(sid, CUSTOMERS.take())))
        sids.append(sid)
    return requests, sids


def dial_actions(base: str, twiml_and_sids: Iterable[tuple[str | None, str]]) -> list[Request]:
    """The Dial action of each call's first TwiML, posted as Twilio does after
    a tier nobody answered (no-answer, not bridged)."""
    out = []
    for body, call_sid in twiml_and_sids:
        if not body:
            continue
        try:
            dial = ET.fromstring(body).find(".//Dial")
        except ET.ParseError:
            continue
        if dial is None or not dial.get("action", "").startswith(base):
            continue
        target = dial.get("action")[len(base):]  # type: ignore[index]
        params = call_params(call_sid, "+14150000000", status="in-progress")
        params = [(k, v) for k, v in params if k not in ("From", "Caller")]
        params += [("From", "+14150000000"), ("Caller", "+14150000000"),
                   ("DialCallStatus", "no-answer"), ("DialCallSid", f"CA{next(_counter):032x}"),
                   ("DialBridged", "false")]
        out.append(signed(base, target, params))
    return out


def baseline_like(service_requests: list[Request]) -> list[Request]:
    """The same bodies and headers, sent to the baseline (which ignores them)."""
    return [[m, t, b, h] for m, t, b, h in service_requests]


def message_sids(requests: list[Request]) -> list[str]:
    """The MessageSid of each request, in order ("" for one without)."""
    out = []
    for request in requests:
        match = re.search(r"MessageSid=(SM\w+)", request[2])
        out.append(match.group(1) if match else "")
    return out

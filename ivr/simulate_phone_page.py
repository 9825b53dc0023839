"""`ivr simulate answer-page`: answer the newest phone page as the
responder's phone would (Twilio fetching what to say, the keys pressed,
the call's end), and print what they hear. The page is found in the
service's database, read without writing it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

import aiohttp

from .clock import SystemClock
from .config import Config
from .phone_pager import PAGE_CALL_PATH, PAGE_CALL_STATUS_PATH
from .server import StartupError
from .simulate import Target, Webhooks
from .store.read_only import Unreadable, read_only


async def answer_page(config: Config, target: Target, keys: list[str], path: str,
                      out: TextIO) -> int:
    try:
        call = read_only(config.database, SystemClock().now(),
                         lambda tx: tx.latest_placed_page_call())
    except Unreadable as exc:
        raise StartupError(f"the database could not be read ({exc}). Fix: run this beside the "
                           f"service, with the same config and IVR_DATABASE") from None
    if call is None:
        raise StartupError(
            "no phone page has been placed. Fix: set page_call_after_seconds on the line in "
            f"{path} (e.g. examples/phone-pages.toml), text the line, and wait that long")
    responder = config.responders.get(call.responder_id)
    line = config.lines.get(call.line_id)
    if responder is None or line is None:
        raise StartupError(f"the newest phone page is for {call.responder_id} on "
                           f"{call.line_id}, which {path} no longer has")
    base = [("CallSid", call.call_sid or ""), ("AccountSid", target.account_sid),
            ("From", line.number), ("To", responder.phone), ("Direction", "outbound-api"),
            ("ApiVersion", "2010-04-01"), ("CallStatus", "in-progress")]
    query = f"?page={call.id}"
    out.write(f"{responder.name}'s phone rings ({line.name} calling) and they answer\n")
    async with aiohttp.ClientSession() as session:
        hooks = Webhooks(target, session)
        document = await hooks.post(PAGE_CALL_PATH + query, base)
        for key in [*keys, ""]:
            root = ET.fromstring(document)
            for said in root.iter("Say"):
                out.write(f"  they hear: {said.text or ''}\n")
            gather = root.find("Gather")
            if gather is None:
                break
            out.write(f"  they press {key}\n" if key else "  they press nothing\n")
            document = await hooks.post(gather.get("action") or "", [*base, ("Digits", key)])
        await hooks.post(PAGE_CALL_STATUS_PATH + query,
                         [*base[:-1], ("CallStatus", "completed")])
    out.write("  the call ends\n")
    return 0

"""Keyword auto-replies (`[lines.X.auto_reply.NAME]`): a text that starts
with the keyword is POSTed to the business's endpoint, whose answer is
texted back from the line. Pure: which rule a text matches, the request's
body, and what an answer means. The request itself is made by
ivr/sms/keyword_reply.py, outside any store transaction.

The request (JSON, signed by ivr/hook_signing.py with the rule's secret):

    {"version": 1, "type": "auto_reply", "auto_reply": "crew_link",
     "line": "qdn", "line_number": "+16195550100", "keyword": "LINK",
     "from": "+16195550142", "text": "link please", "message_sid": "SM..."}

`from` is the texter's full number: the endpoint needs it to know who asks
(and the reply goes to it). `message_sid` is the same on a webhook Twilio
retried, so an endpoint can recognise a repeated question. The answer must
be 2xx with JSON {"reply": "<non-empty text>"} within the time limit;
anything else falls back to the line's usual handling of the text."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from .line_integrations import AutoReply

REQUEST_VERSION = 1
# The most of an answer read: a reply is one text, at most 1600 characters.
MAX_ANSWER_BYTES = 16 * 1024


@lru_cache(maxsize=256)
def _pattern(keyword: str) -> re.Pattern[str]:
    # The keyword as a whole word at the start: "LINK", "link please",
    # "Link." match; "LINKS" and "unlink" do not.
    return re.compile(rf"\s*{re.escape(keyword)}(?![\w])", re.IGNORECASE)


def matching_rule(rules: Sequence[AutoReply], body: str) -> AutoReply | None:
    return next((rule for rule in rules if _pattern(rule.keyword).match(body)), None)


def request_body(rule: AutoReply, line_id: str, line_number: str, sender: str, text: str,
                 message_sid: str) -> bytes:
    return json.dumps({
        "version": REQUEST_VERSION, "type": "auto_reply", "auto_reply": rule.name,
        "line": line_id, "line_number": line_number, "keyword": rule.keyword,
        "from": sender, "text": text, "message_sid": message_sid,
    }, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Outcome:
    """The endpoint's reply, or why there is none (for AUTO_REPLY_FAILED)."""
    reply: str | None
    failure: str | None = None


def read_answer(status: int, body: bytes) -> Outcome:
    """What an endpoint's answer means."""
    if not 200 <= status < 300:
        return Outcome(None, f"the endpoint answered HTTP {status}")
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return Outcome(None, "the endpoint's answer is not JSON")
    reply = answer.get("reply") if isinstance(answer, dict) else None
    if not isinstance(reply, str) or not reply.strip():
        return Outcome(None, 'the endpoint\'s answer has no text in "reply"')
    return Outcome(reply.strip())

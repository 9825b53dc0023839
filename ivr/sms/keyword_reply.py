"""A text that starts with one of the line's auto-reply keywords: its
endpoint is asked before the text is handled, outside any store
transaction (a transaction holds the write lock; an endpoint may take
seconds). The time limit (at most 10 s, config.py) keeps the webhook's
answer inside Twilio's 15 s. A webhook Twilio retries after the text was
handled is answered as before without asking again; a retry that arrives
while the first is still asking asks too, and the store keeps only the
first answer (the endpoint sees the same message_sid twice)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from ..auto_reply import MAX_ANSWER_BYTES, Outcome, matching_rule, read_answer, request_body
from ..calendars import describe_source
from ..clock import Clock
from ..conversations.blocking import block_source
from ..conversations.inbound import Inbound
from ..hook_signing import signed_headers
from ..line_integrations import AutoReply
from ..logs import event
from ..services import Services
from ..store import Tx
from .inbound import Asked, handle_text

log = logging.getLogger(__name__)


async def answer_text(svc: Services, text: Inbound) -> str:
    """The TwiML answer to a text, its endpoint asked first if it has a keyword."""
    rule = matching_rule(text.line.integrations.auto_replies, text.body)
    asked: Asked | None = None
    if rule is not None and await svc.store.read(lambda tx: _to_ask(tx, svc, text)):
        outcome = await ask_endpoint(rule, text, svc.clock)
        event(log, logging.INFO if outcome.reply is not None else logging.WARNING,
              "auto-reply endpoint asked", line=text.line.id, sid=text.message_sid,
              auto_reply=rule.name, url=describe_source(rule.url),
              outcome="reply" if outcome.reply is not None else outcome.failure)
        asked = (rule, outcome.reply, outcome.failure)
    return await svc.store.write(lambda tx: handle_text(tx, svc.roster, text, asked))


def _to_ask(tx: Tx, svc: Services, text: Inbound) -> bool:
    """Not a retry of a text already handled, not a responder (their texts
    are commands and replies), not a blocked number."""
    return (tx.inbound_reply(text.message_sid) is None
            and svc.config.responder_by_phone(text.line, text.sender) is None
            and block_source(tx, text.line, text.sender) is None)


async def ask_endpoint(rule: AutoReply, text: Inbound, clock: Clock) -> Outcome:
    """The endpoint's reply within the rule's time limit, or why not. Never raises."""
    body = request_body(rule, text.line.id, text.line.number, text.sender, text.body,
                        text.message_sid)
    headers = signed_headers(rule.secret, int(clock.now().timestamp()), body)
    timeout = rule.timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.post(rule.url, data=body, headers=headers,
                                        allow_redirects=False) as response:
                    answer = await response.content.read(MAX_ANSWER_BYTES + 1)
                    if len(answer) > MAX_ANSWER_BYTES:
                        return Outcome(None, f"the endpoint's answer is over "
                                             f"{MAX_ANSWER_BYTES} bytes")
                    return read_answer(response.status, answer)
    except TimeoutError:
        return Outcome(None, f"no answer within {timeout:g} s")
    except aiohttp.ClientError as exc:
        return Outcome(None, f"the endpoint cannot be reached ({type(exc).__name__})")
    except Exception as exc:   # nothing an endpoint does may fail the text
        log.exception("auto-reply %s failed", rule.name)
        return Outcome(None, f"the request failed ({type(exc).__name__})")

"""A customer's whole number, shown only on an explicit click: the click is
a decision row naming the operator and the conversation, written before the
number is shown. Everywhere else the number stays masked."""

from __future__ import annotations

from typing import Any

from quart import abort, render_template

from ..decisions import Channel, DecisionKind, decision
from ..phone import display
from ..roles import Action
from ..services import current_services
from ..store import Tx
from .access import allowed_to, current_operator
from .blueprint import blueprint
from .login import check_csrf, csrf_token, login_required


@blueprint.post("/conversations/<int:conversation_id>/reveal")
@login_required
@allowed_to(Action.REVEAL)
async def reveal_number(conversation_id: int) -> Any:
    await check_csrf()
    svc = current_services()
    who = current_operator().name   # read here: the transaction runs in the store's thread

    def reveal(tx: Tx) -> tuple[Any, str] | None:
        conversation = tx.conversation(conversation_id)
        if conversation is None or not conversation.customer:
            return None
        line = svc.config.lines.get(conversation.line_id)
        tx.decide(decision(DecisionKind.NUMBER_REVEALED, Channel.SMS,
                           f"{who} revealed the customer's number of #{conversation.code}",
                           line=conversation.line_id, conversation=conversation))
        return conversation, line.code if line else conversation.line_id

    found = await svc.store.write(reveal)
    if found is None:
        abort(404, "no such conversation, or its number was redacted")
    conversation, line_code = found
    return await render_template(
        "revealed.html", code=conversation.code, line_code=line_code,
        number=conversation.customer, shown=display(conversation.customer),
        csrf_token=csrf_token(), operator=current_operator())

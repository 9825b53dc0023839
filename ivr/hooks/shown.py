"""The event hook deliveries that failed for good, as the dashboard shows
them (the latest few; `ivr log` has every hook_failed decision)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..shown_times import day_and_time, line_zone
from .payload import event_id

if TYPE_CHECKING:
    from ..services import Services

SHOWN = 10


async def failed_hook_rows(svc: "Services") -> list[dict[str, Any]]:
    if not svc.config.hooks:
        return []
    failed = await svc.store.read(lambda tx: tx.hook_deliveries("failed", limit=SHOWN))
    zone = line_zone(svc.config)
    return [{"hook": row["hook"], "event": row["event_type"],
             "id": event_id(row["decision_id"]), "attempts": row["attempts"],
             "error": row["error"], "since": day_and_time(row["created_at"], zone)}
            for row in reversed(failed)]

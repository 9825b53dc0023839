"""The decision log: every routing decision, written in the transaction
of the change it explains, and the queries the log and dashboard use."""

from __future__ import annotations

from ..decisions import Decision, DecisionKind
from .base import TxBase
from .rows import DecisionRow


class DecisionQueries(TxBase):
    def decide(self, decision: Decision) -> int:
        kind = DecisionKind(decision.kind)  # refuses a kind outside the closed set
        self.decided.append((str(kind), decision.line_id))
        decision_id = self._insert(
            "INSERT INTO decisions (at, line_id, channel, sid, conversation_id, tier,"
            " responder_id, kind, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.now_text, decision.line_id, str(decision.channel), decision.sid,
             decision.conversation_id, decision.tier, decision.responder_id, str(kind),
             decision.reason))
        # The event hooks hear of it from this same transaction (the outbox pattern).
        self.queue_hook_deliveries(decision_id, decision)
        return decision_id

    def recent_decisions(self, limit: int = 100, line_id: str | None = None,
                         conversation_id: int | None = None,
                         sid: str | None = None) -> list[DecisionRow]:
        """The last `limit` decisions, oldest first."""
        return self.find_decisions(limit=limit, line_id=line_id,
                                   conversation_id=conversation_id, sid=sid)

    def find_decisions(self, *, limit: int = 100, after_id: int = 0,
                       line_id: str | None = None, number: str | None = None,
                       responder_id: str | None = None, conversation_id: int | None = None,
                       sid: str | None = None) -> list[DecisionRow]:
        """Decisions oldest first: the last `limit`, or those after `after_id`.
        `number` matches the customer, the caller or the responder it concerns."""
        where, params = [], []
        if after_id:
            where.append("id > ?")
            params.append(after_id)
        for column, value in (("line_id", line_id), ("conversation_id", conversation_id),
                              ("sid", sid)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if number is not None:
            # A union of indexed lookups: an OR of these would scan every decision.
            where.append(
                "id IN (SELECT d.id FROM decisions d JOIN conversations c"
                " ON d.conversation_id = c.id WHERE c.customer = ?"
                " UNION SELECT d.id FROM decisions d JOIN calls k ON d.sid = k.call_sid"
                " WHERE k.caller = ?"
                " UNION SELECT d.id FROM decisions d JOIN inbound_messages m"
                " ON d.sid = m.message_sid WHERE m.sender = ?"
                " UNION SELECT id FROM decisions WHERE responder_id = ?)")
            params += [number, number, number, responder_id or ""]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "ASC" if after_id else "DESC"
        rows = self._all(
            f"SELECT id, at, line_id, channel, sid, conversation_id, tier, responder_id, kind,"
            f" reason FROM decisions {clause} ORDER BY id {order} LIMIT ?", (*params, limit))
        found = [DecisionRow(**dict(row)) for row in rows]
        return found if after_id else found[::-1]

    def has_decision(self, sid: str, kind: DecisionKind) -> bool:
        """Whether a decision of `kind` was already made about this SID."""
        return self._one("SELECT 1 FROM decisions WHERE sid = ? AND kind = ? LIMIT 1",
                         (sid, str(kind))) is not None

    def latest_decision_id(self) -> int:
        row = self._one("SELECT MAX(id) FROM decisions")
        return int(row[0] or 0) if row else 0

    def counts(self) -> dict[str, int]:
        """Sizes the metrics report: pending timers, open conversations, unsent texts."""
        queries = {
            "pending_timers": "SELECT COUNT(*) FROM timers WHERE state = 'pending'",
            "open_conversations": "SELECT COUNT(*) FROM conversations WHERE status = 'open'",
            "outbox_unsent": "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')",
        }
        result = {}
        for name, sql in queries.items():
            row = self._one(sql)
            result[name] = int(row[0]) if row else 0
        return result

"""What every part of a transaction shares: the connection, the
transaction's time, and what it did for whoever listens once it commits."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any, Iterable

from ..clock import to_text
from ..hooks.events import HookRoutes
from .dialect import SQLITE, Dialect
from .rows import Conversation, OutboxMessage


class TxBase:
    def __init__(self, db: sqlite3.Connection, now: datetime,
                 send_lease: timedelta | None = None, dialect: Dialect = SQLITE,
                 hooks: HookRoutes | None = None):
        # An sqlite3 connection, or one of PostgreSQL's behind the same
        # execute/executemany (ivr.store.postgres.Connection).
        self._db = db
        self.dialect = dialect
        self.now = now
        self.now_text = to_text(now)
        self.enqueued = 0
        # With a sender in this process (Store.send_lease), messages are
        # queued already claimed by it and listed here for it to send once
        # the transaction commits: no claim transaction, no wait for a poll.
        self._send_lease = send_lease
        self.claimed: list[OutboxMessage] = []
        # The event hooks configured (Store.hooks): which decisions each
        # hears of, queued with the decision (hook_deliveries.py).
        self.hooks = hooks
        self.hook_queued = 0
        # What this transaction did, for whoever listens once it commits (metrics).
        self.decided: list[tuple[str, str | None]] = []
        self.observations: list[tuple[str, float, dict[str, str]]] = []

    def observe(self, name: str, value: float, **labels: str) -> None:
        """A measurement that counts only if the transaction commits."""
        self.observations.append((name, value, labels))

    def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return self._db.execute(sql, tuple(params)).fetchone()

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, tuple(params)).fetchall()

    def _insert(self, sql: str, params: Iterable[Any]) -> int:
        row = self._one(sql + " RETURNING id", params)
        assert row is not None
        return int(row[0])

    def _conversation(self, sql: str, params: Iterable[Any] = ()) -> Conversation | None:
        row = self._one(sql, params)
        return Conversation(**dict(row)) if row else None

    def _conversations(self, sql: str, params: Iterable[Any] = ()) -> list[Conversation]:
        return [Conversation(**dict(row)) for row in self._all(sql, params)]

"""All SQL lives in this package: one connection per process, one write
path (database.py), and a transaction object (Tx) composed of one part
per noun: decisions, conversations, inbound texts, timers, preferences,
calls, the outbox, blocked numbers and floods. The same transactions run
on SQLite (database.py) or PostgreSQL (postgres.py); dialect.py names
where the two differ."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from ..clock import Clock
from .database import Checkpointer, Store, split_sql
from .dialect import is_postgres_url
from .rows import Call, Conversation, DecisionRow, DialAttempt, OutboxMessage, Timer, Voicemail
from .tx import Tx

if TYPE_CHECKING:
    from .postgres import PostgresStore

AnyStore = Union[Store, "PostgresStore"]


def store_for(database: str, clock: Clock) -> AnyStore:
    """The store `[service] database` names: a PostgreSQL URL, or an SQLite file."""
    if is_postgres_url(database):
        from .postgres import PostgresStore  # psycopg is loaded only when it is used
        return PostgresStore(database, clock)
    return Store(database, clock)

__all__ = ["AnyStore", "Call", "Checkpointer", "Conversation", "DecisionRow", "DialAttempt",
           "OutboxMessage",
           "Store", "Timer", "Tx", "Voicemail", "split_sql", "store_for"]

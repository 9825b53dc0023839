"""All SQL lives in this package: one connection per process, one write
path (database.py), and a transaction object (Tx) composed of one part
per noun: decisions, conversations, inbound texts, timers, preferences,
calls, the outbox, blocked numbers and floods."""

from .database import Checkpointer, Store, split_sql
from .rows import Call, Conversation, DecisionRow, DialAttempt, OutboxMessage, Timer, Voicemail
from .tx import Tx

__all__ = ["Call", "Checkpointer", "Conversation", "DecisionRow", "DialAttempt", "OutboxMessage",
           "Store", "Timer", "Tx", "Voicemail", "split_sql"]

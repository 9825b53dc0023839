"""What both engines' stores share: the commit listeners, a write shielded
from its caller's cancellation, and the health ping."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, TypeVar

from .tx import Tx

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreBase:
    def __init__(self) -> None:
        self._commit_listeners: list[Callable[[Tx], None]] = []

    def on_commit(self, listener: Callable[[Tx], None]) -> None:
        """Call `listener(tx)` after each write transaction commits."""
        self._commit_listeners.append(listener)

    def committed(self, tx: Tx) -> None:
        """Tell the commit listeners of a transaction that committed, on any
        of the store's write paths."""
        for listener in self._commit_listeners:
            try:
                listener(tx)
            except Exception:  # a listener must never undo a committed write's caller
                log.exception("a commit listener failed")

    async def _shielded(self, running: Awaitable[tuple[Tx, T]]) -> T:
        """The transaction's result; a cancelled caller leaves it to finish
        whole, and its listeners are told as it commits."""
        task = asyncio.ensure_future(running)
        # Listeners run from the task, not after the await below: a caller
        # cancelled meanwhile never gets there, and what its transaction
        # queued must still be sent. Added before shield's own callback, they
        # still run before the caller resumes.
        task.add_done_callback(self._after_write)
        _, result = await asyncio.shield(task)
        return result

    def _after_write(self, task: asyncio.Future[tuple[Tx, Any]]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            # The caller may have been cancelled and gone; the error is still
            # theirs to see in the log rather than as "never retrieved".
            log.debug("write failed after its caller left", exc_info=task.exception())
            return
        self.committed(task.result()[0])

    async def read(self, fn: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(2):
                return await self.read(_select_one) == 1
        except Exception:  # any failure means "not healthy"; the caller says so
            log.exception("database ping failed")
            return False


def _select_one(tx: Tx) -> int:
    row = tx._one("SELECT 1")
    return int(row[0]) if row else 0

"""The shape every background worker shares: started with the app, stopped
(cancelled and awaited) when it stops."""

from __future__ import annotations

import asyncio


class BackgroundWorker:
    name = "ivr-worker"

    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError

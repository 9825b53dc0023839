"""The collaborators one app instance works with, built once by create_app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .clock import Clock
from .config import Config
from .secrets import Secrets
from .store import Store

if TYPE_CHECKING:
    from .gateway import TwilioGateway
    from .metrics import Metrics
    from .outbox import OutboxWorker
    from .roster import Roster
    from .timers import TimerWorker
    from .webhooks import SignatureChecker


@dataclass
class Services:
    config: Config
    secrets: Secrets
    store: Store
    gateway: "TwilioGateway"
    clock: Clock
    signatures: "SignatureChecker"
    outbox: "OutboxWorker"
    timers: "TimerWorker"
    roster: "Roster"
    metrics: "Metrics"
    public_base_url: str

    def callback_url(self, path: str) -> str:
        return f"{self.public_base_url}{path}"

"""The collaborators one app instance works with, built once by create_app,
and how a request finds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from quart import current_app

from .clock import Clock
from .config import Config
from .secrets import Secrets
from .store import AnyStore

if TYPE_CHECKING:
    from .conversations.timers import TimerWorker
    from .gateway import TwilioGateway
    from .hooks.worker import HookWorker
    from .outbox import OutboxWorker
    from .phone_pager import PhonePager
    from .roster import Roster
    from .summary_sending import SummaryWorker
    from .web.metrics import Metrics
    from .webhooks import SignatureChecker


@dataclass
class Services:
    config: Config
    secrets: Secrets
    store: AnyStore
    gateway: "TwilioGateway"
    clock: Clock
    signatures: "SignatureChecker"
    outbox: "OutboxWorker"
    timers: "TimerWorker"
    roster: "Roster"
    metrics: "Metrics"
    public_base_url: str
    phone_pager: "PhonePager"
    summaries: "SummaryWorker | None" = None    # the lines' daily summaries
    hooks: "HookWorker | None" = None    # None: no [hooks] configured

    def callback_url(self, path: str, **query: object) -> str:
        """A URL Twilio calls back, under the public base URL."""
        return f"{self.public_base_url}{path}" + (f"?{urlencode(query)}" if query else "")


def current_services() -> Services:
    """The services of the app handling the current request."""
    return current_app.extensions["ivr"]

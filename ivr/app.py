"""The app factory. Importing this module starts nothing; `create_app`
builds an app from its collaborators, and serving it opens the store and
starts the background workers."""

from __future__ import annotations

import logging
from dataclasses import replace

from quart import Quart, request

from . import DASHBOARD_TEMPLATES_PATH
from .booking_calendars import BookingCalendars, bookings_by_line
from .calendars import CalendarCache
from .clock import Clock, SystemClock
from .config import Config
from .conversations.timers import TimerWorker
from .gateway import TwilioGateway
from .hooks.config import resolve_secrets
from .hooks.events import routes_for
from .hooks.worker import HookWorker
from .logs import install_redaction
from .outbox import STATUS_CALLBACK_PATH, OutboxWorker, sends_in_flight, workers_here
from .phone_pager import PhonePager
from .retention import retention_worker
from .roster import Roster
from .secrets import Secrets
from .services import Services
from .sms import routes as sms_routes
from .store import AnyStore, Checkpointer, store_for
from .summary_sending import SummaryWorker
from .voice import page_call_routes  # noqa: F401 - its routes join the voice blueprint
from .voice import routes as voice_routes
from .web import (dashboard, health, history, line_report, media_proxy,  # noqa: F401
                  people, reveal, transcript)  # (their routes)
from .web import metrics as metrics_routes
from .web.login import session_key
from .web.metrics import Metrics
from .webhooks import CONNECTION_OVERRIDES, SignatureChecker

log = logging.getLogger(__name__)

# A Twilio webhook is a few kilobytes; refuse anything far larger before
# parsing it, so a stranger cannot make us buffer megabytes.
MAX_REQUEST_BYTES = 64 * 1024

# What a browser may do with the dashboard's and /metrics' answers: load
# script, styles and data from the service itself only (the templates have
# no inline script or style), be framed by nobody, send no Referer on.
OPERATOR_PATHS = ("/dashboard", "/metrics")
OPERATOR_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def create_app(config: Config, secrets: Secrets, *, store: AnyStore | None = None,
               gateway: TwilioGateway | None = None, clock: Clock | None = None,
               public_base_url: str | None = None, background: bool = True) -> Quart:
    """Build the service. `public_base_url` defaults to IVR_PUBLIC_BASE_URL;
    `background=False` leaves the outbox and the timers to the caller (tests)."""
    clock = clock or SystemClock()
    base = (public_base_url or secrets.public_base_url or "").rstrip("/")
    if not base:
        raise ValueError("IVR_PUBLIC_BASE_URL is not set: Twilio's signatures are checked "
                         "against it and callbacks are built from it")
    if not secrets.signing_tokens():
        raise ValueError("no TWILIO_AUTH_TOKEN: webhooks could not be verified")
    store = store or store_for(config.database, clock)
    config = replace(config, hooks=resolve_secrets(config.hooks, secrets, config.path))
    # Every write from here on queues the events hooks hear of with its decisions.
    store.hooks = routes_for(hook.route for hook in config.hooks)
    gateway = gateway or TwilioGateway(secrets)
    roster = Roster(config, CalendarCache(config.calendars, clock),
                    BookingCalendars(bookings_by_line(config), clock))
    metrics = Metrics()
    store.on_commit(metrics.after_commit)
    services = Services(
        config=config, secrets=secrets, store=store, gateway=gateway, clock=clock,
        signatures=SignatureChecker(secrets.signing_tokens(), base, secrets.fallback_base_url,
                                    fragments=(CONNECTION_OVERRIDES,)),
        outbox=OutboxWorker(store, gateway, clock, base + STATUS_CALLBACK_PATH, roster, metrics,
                            sends_in_flight(config.twilio_concurrency, workers_here())),
        timers=TimerWorker(store, roster, clock), roster=roster, metrics=metrics,
        public_base_url=base, phone_pager=PhonePager(store, gateway, clock, roster, base),
        summaries=SummaryWorker(store, roster, clock),
        hooks=HookWorker(store, config, clock) if config.hooks else None)

    app = Quart(__name__, template_folder=str(DASHBOARD_TEMPLATES_PATH))
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_REQUEST_BYTES
    app.secret_key = session_key(secrets.session_secret or secrets.signing_tokens()[0])
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=base.startswith("https://"),
                      SESSION_COOKIE_NAME="ivr_session", PERMANENT_SESSION_LIFETIME=12 * 3600)
    app.extensions["ivr"] = services
    app.after_request(_operator_headers)
    for blueprint in (sms_routes.blueprint, voice_routes.blueprint, dashboard.blueprint,
                      metrics_routes.blueprint, health.blueprint):
        app.register_blueprint(blueprint)
    _run_with_app(app, services, background)
    return app


async def _operator_headers(response):
    if request.path.startswith(OPERATOR_PATHS):
        response.headers.update(OPERATOR_HEADERS)
        if not request.path.startswith("/dashboard/static/"):
            # Nothing an operator saw stays in a browser's cache after signing out.
            response.headers["Cache-Control"] = "no-store"
    return response


def _run_with_app(app: Quart, svc: Services, background: bool) -> None:
    """Open the store and start the background workers while the app serves."""
    checkpointer = Checkpointer(svc.store)
    calendars = svc.roster.calendars
    bookings = svc.roster.bookings
    summaries = svc.summaries
    retention = retention_worker(svc.store, svc.config.retention_days, svc.clock)

    @app.before_serving
    async def start() -> None:
        install_redaction(svc.secrets.values())
        await svc.store.open()
        if summaries is not None:
            await summaries.schedule()
        await calendars.refresh()
        if bookings is not None:
            await bookings.refresh()
        await svc.gateway.start()
        if background:
            checkpointer.start()
            svc.outbox.start()
            svc.timers.start()
            calendars.start()
            if bookings is not None:
                bookings.start()
            if summaries is not None:
                summaries.start()
            if retention is not None:
                retention.start()
            if any(line.policy.page_call_after for line in svc.config.lines.values()):
                svc.phone_pager.start()
            if svc.hooks is not None:
                svc.hooks.start()
        log.info("serving %d line(s) from %s; public URL %s", len(svc.config.lines),
                 svc.config.path, svc.public_base_url)

    @app.after_serving
    async def stop() -> None:
        if retention is not None:
            await retention.stop()
        await svc.phone_pager.stop()
        if svc.hooks is not None:
            await svc.hooks.stop()
        await calendars.stop()
        if bookings is not None:
            await bookings.stop()
        if summaries is not None:
            await summaries.stop()
        await svc.timers.stop()
        await svc.outbox.stop()
        await checkpointer.stop()
        await svc.gateway.close()
        await svc.store.close()

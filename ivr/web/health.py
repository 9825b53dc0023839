"""GET /healthz: 200 while the store can write, 503 with the reason otherwise.

A store that still reads but cannot write answers every text with the
fallback TwiML and records nothing, so "the database answers" is not
health: the check commits a (no-op) write, with a short timeout."""

from __future__ import annotations

import logging

from quart import Blueprint, Response

from ..services import current_services

log = logging.getLogger(__name__)

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
async def healthz() -> Response:
    problem = await current_services().store.write_problem()
    if problem is None:
        return Response("ok\n", 200, mimetype="text/plain")
    log.warning("unhealthy: %s", problem)
    return Response(f"unhealthy: {problem}\n", 503, mimetype="text/plain")

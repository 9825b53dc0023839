"""GET /healthz: 200 while the store answers, 503 otherwise."""

from __future__ import annotations

from quart import Blueprint, Response

from ..services import current_services

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
async def healthz() -> Response:
    if await current_services().store.ping():
        return Response("ok\n", 200, mimetype="text/plain")
    return Response("database unavailable\n", 503, mimetype="text/plain")

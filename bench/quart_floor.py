"""A reference between the bare ASGI baseline and the service: Quart parsing
the form and answering a constant TwiML document, with no signature check and
no database. What Quart and Werkzeug cost before ivr does anything."""

from __future__ import annotations

from quart import Quart, Response, request

from baseline_app import TWIML

app = Quart(__name__)


@app.post("/sms/incoming")
@app.post("/voice/incoming")
async def reply() -> Response:
    form = await request.form
    assert form is not None
    return Response(TWIML, mimetype="text/xml")

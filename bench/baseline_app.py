"""The baseline: a bare ASGI app that reads the request and answers one
constant TwiML document, so the benchmark can say how much of a request's
cost is Hypercorn, the loopback socket and the load generator themselves."""

from __future__ import annotations

TWIML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
         b'  <Message>Thanks, we got your message. Sergio will reply shortly.</Message>\n'
         b'</Response>\n')
HEADERS = [(b"content-type", b"text/xml; charset=utf-8"),
           (b"content-length", str(len(TWIML)).encode())]


async def app(scope, receive, send):  # noqa: ANN001, ANN201 - plain ASGI
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    # Read the whole form body, as the service does, before answering.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": TWIML})

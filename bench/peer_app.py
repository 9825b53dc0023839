"""The peer ivr is compared with (issue 20): the same work on a new text done
the way a Twilio tutorial would do it. Flask on gunicorn's sync workers;
the signature checked with twilio-python's RequestValidator; sqlite3
inserting the same kinds of rows ivr writes (the conversation, the inbound
text, its decisions, the page) in one transaction; the page sent
synchronously with twilio-python's sync client while the webhook waits; the
acknowledgement rendered with Jinja.

    gunicorn -w 5 -b 127.0.0.1:PORT --chdir bench peer_app:app

Settings come from the environment the benchmark gives it: PEER_DB,
PEER_PUBLIC_URL, TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID, TWILIO_API_KEY,
TWILIO_API_SECRET and TWILIO_API_BASE (the fake Twilio). It answers only what
the benchmark sends: new texts and repeats of them."""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime, timezone

from flask import Flask, Response, abort, request
from jinja2 import Environment
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

LINE = "+16195550100"
RESPONDER = "+16195550101"
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY, line TEXT NOT NULL, customer TEXT NOT NULL,
    code INTEGER NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inbound_messages (
    id INTEGER PRIMARY KEY, message_sid TEXT NOT NULL UNIQUE,
    conversation_id INTEGER NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY, conversation_id INTEGER, kind TEXT NOT NULL,
    detail TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL, to_number TEXT NOT NULL,
    body TEXT NOT NULL, status TEXT NOT NULL, provider_sid TEXT, created_at TEXT NOT NULL);
"""
ACK = Environment(autoescape=True).from_string(
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Message>Thanks, we got your'
    ' message. {{ responder }} will reply shortly.</Message></Response>')


class ToFakeTwilio(TwilioHttpClient):
    """twilio-python's own HTTP client, its requests sent to TWILIO_API_BASE."""

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        url = url.replace("https://api.twilio.com", os.environ["TWILIO_API_BASE"])
        return super().request(method, url, *args, **kwargs)


app = Flask(__name__)
validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN", ""))
_local = threading.local()


def db() -> sqlite3.Connection:
    if not hasattr(_local, "db"):
        connection = sqlite3.connect(os.environ["PEER_DB"], timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
        _local.db = connection
    return _local.db


def twilio() -> Client:
    if not hasattr(_local, "twilio"):
        _local.twilio = Client(os.environ["TWILIO_API_KEY"], os.environ["TWILIO_API_SECRET"],
                               os.environ["TWILIO_ACCOUNT_SID"], http_client=ToFakeTwilio())
    return _local.twilio


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


@app.post("/sms/incoming")
def sms_incoming() -> Response:
    url = os.environ["PEER_PUBLIC_URL"] + request.full_path.rstrip("?")
    if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
        abort(403)
    form = request.form
    page = record_text(form["MessageSid"], form["From"], form.get("Body", ""))
    if page is not None:
        send_page(*page)
    return Response(ACK.render(responder="Sergio"), mimetype="text/xml")


def record_text(message_sid: str, customer: str, body: str) -> tuple[int, str] | None:
    """The conversation, the text, its decisions and the page, in one transaction;
    None for a repeat of a text already recorded (answered the same way)."""
    connection, at = db(), now()
    connection.execute("BEGIN IMMEDIATE")
    try:
        if connection.execute("SELECT 1 FROM inbound_messages WHERE message_sid = ?",
                              (message_sid,)).fetchone():
            connection.execute("ROLLBACK")
            return None
        code = connection.execute("SELECT COALESCE(MAX(code), 0) + 1 FROM conversations"
                                  " WHERE status = 'open'").fetchone()[0]
        conversation = connection.execute(
            "INSERT INTO conversations (line, customer, code, status, opened_at)"
            " VALUES (?, ?, ?, 'open', ?)", (LINE, customer, code, at)).lastrowid
        connection.execute("INSERT INTO inbound_messages (message_sid, conversation_id, body,"
                           " received_at) VALUES (?, ?, ?, ?)",
                           (message_sid, conversation, body, at))
        page_body = f"[QDN #{code}] {customer}: {body} - reply ACK to take it"
        outbox = connection.execute(
            "INSERT INTO outbox (conversation_id, to_number, body, status, created_at)"
            " VALUES (?, ?, ?, 'sending', ?)", (conversation, RESPONDER, page_body, at)).lastrowid
        for kind in ("conversation_opened", "message_forwarded", "customer_acknowledged"):
            connection.execute("INSERT INTO decisions (conversation_id, kind, detail, at)"
                               " VALUES (?, ?, '', ?)", (conversation, kind, at))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return outbox, page_body


def send_page(outbox: int, body: str) -> None:
    try:
        message = twilio().messages.create(to=RESPONDER, from_=LINE, body=body)
        status, sid = "sent", message.sid
    except TwilioException:
        status, sid = "failed", None
    db().execute("UPDATE outbox SET status = ?, provider_sid = ? WHERE id = ?",
                 (status, sid, outbox))

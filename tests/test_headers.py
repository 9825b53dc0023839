"""Every answer of the dashboard and /metrics carries the browser security
headers, and the templates need nothing the Content-Security-Policy forbids
(no inline script or style)."""

from __future__ import annotations

import asyncio
import base64
import re

from .support.harness import CUSTOMER, LINE, REPO
from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)


def policy(headers) -> dict[str, str]:
    directives = (d.strip() for d in headers.get("Content-Security-Policy", "").split(";"))
    return {d.split(" ", 1)[0]: d.partition(" ")[2] for d in directives if d}


def assert_protected(response, what: str) -> None:
    headers = response.headers
    csp = policy(headers)
    assert csp.get("default-src") == "'none'", (what, headers)
    assert csp.get("script-src") == "'self'" and csp.get("style-src") == "'self'", what
    assert csp.get("frame-ancestors") == "'none'" and csp.get("form-action") == "'self'", what
    assert "unsafe" not in headers["Content-Security-Policy"], what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), what
    assert headers.get("X-Content-Type-Options") == "nosniff", what


async def test_every_dashboard_and_metrics_answer_carries_the_headers(harness):
    client = harness.client
    answers = {}

    async def get(path, **kwargs):
        answers[f"GET {path}"] = response = await client.get(path, scheme="https", **kwargs)
        return response

    async def post(path, what, **kwargs):
        answers[what] = response = await client.post(path, scheme="https", **kwargs)
        return response

    await get("/dashboard/")                                   # 302 to the login page
    login_page = await (await get("/dashboard/login")).get_data(as_text=True)
    await post("/dashboard/login", "POST /dashboard/login (no CSRF token: 400)",
               form={"password": PASSWORD})
    await post("/dashboard/login", "POST /dashboard/login (wrong: 401)",
               form={"password": "wrong", "csrf_token": csrf_of(login_page)})
    await get("/metrics")                                      # 401
    await post("/dashboard/login", "POST /dashboard/login (right: 302)",
               form={"password": PASSWORD, "csrf_token": csrf_of(login_page)})
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    html = await (await get("/dashboard/")).get_data(as_text=True)
    await get("/dashboard/live")
    await get("/dashboard/static/dashboard.js")
    await get("/dashboard/static/dashboard.css")
    await get("/dashboard/no-such-page")                       # 404
    await get("/metrics")                                      # 200 by the session
    auth = "Basic " + base64.b64encode(f"p:{PASSWORD}".encode()).decode()
    await get("/metrics", headers={"Authorization": auth})
    await post("/dashboard/conversations/1/close", "POST close",
               form={"csrf_token": csrf_of(html)})
    async with client.request("/dashboard/events", scheme="https") as events:
        await asyncio.wait_for(events.receive(), 5)
        await events.disconnect()
    answers["GET /dashboard/events"] = events
    await post("/dashboard/logout", "POST /dashboard/logout",
               form={"csrf_token": csrf_of(html)})

    statuses = {what: r.status_code for what, r in answers.items()}
    assert {400, 401, 404, 302, 200} <= set(statuses.values()), statuses
    for what, response in answers.items():
        assert_protected(response, what)
    for what in ("GET /dashboard/", "GET /dashboard/live", "GET /metrics"):
        assert answers[what].headers["Cache-Control"] == "no-store", what


async def test_the_script_and_styles_are_served_files_with_their_types(harness):
    script = await harness.client.get("/dashboard/static/dashboard.js", scheme="https")
    styles = await harness.client.get("/dashboard/static/dashboard.css", scheme="https")
    assert script.status_code == styles.status_code == 200
    assert script.mimetype in ("text/javascript", "application/javascript")
    assert styles.mimetype == "text/css"
    assert "EventSource" in await script.get_data(as_text=True)


def test_the_templates_have_no_inline_script_or_style():
    """What the policy would block: the templates must not need it."""
    for template in (REPO / "dashboard_templates").glob("*.html"):
        text = template.read_text("utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert "<style" not in text, template.name
        assert not re.search(r"\sstyle\s*=", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "javascript:" not in text, template.name


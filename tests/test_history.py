"""The history page (issue 18, item 2): closed conversations and past
calls found by line, number (whole or its last four digits), code,
responder and dates, paged, and exported as CSV with numbers masked."""

import csv
import io
import re

import pytest

from ivr.history_search import SearchRefused, typed_number
from ivr.web import history as history_routes

from .support.call_simulator import CallSimulator
from .support.harness import BACKUP, LINE, SERGIO
from .support.operator import harness  # noqa: F401 (a fixture)
from .test_dashboard import get, log_in, page

pytestmark = pytest.mark.both_engines

DAY = 86400
# Four customers; the clock starts on Sun 22 Nov 2026 at 10:00 PST.
FIRST, SECOND, THIRD, FOURTH = "+16195550142", "+16195557788", "+18585550142", "+16195551234"


async def closed_conversation(harness, customer: str, responder: str = SERGIO) -> None:
    await harness.twilio.text(from_=customer, to=LINE, body=f"help from {customer[-4:]}")
    opened = await harness.store.read(lambda tx: tx.open_conversation_for("qdn", customer))
    await harness.twilio.text(from_=responder, to=LINE, body=f"ACK {opened.code}")
    await harness.twilio.text(from_=responder, to=LINE, body=f"CLOSE {opened.code}")


async def history(harness, **query) -> str:
    response = await get(harness.client, "/dashboard/history", query_string=query)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_data(as_text=True)


def codes(html: str) -> list[str]:
    """The conversations listed, newest first, by their customers' last four digits."""
    return re.findall(r"<span>\+\d{4}\*\*\*(\d{4})</span>", html)


@pytest.fixture
async def four_days(harness):
    """One closed conversation a day, the third taken by Backup, and one still open."""
    for customer, responder in ((FIRST, SERGIO), (SECOND, SERGIO), (THIRD, BACKUP)):
        await closed_conversation(harness, customer, responder)
        harness.clock.advance(DAY)
    await harness.twilio.text(from_=FOURTH, to=LINE, body="still waiting")
    await log_in(harness.client)
    return harness


async def test_search_by_the_last_four_digits_finds_closed_conversations(four_days):
    html = await history(four_days, number="0142")
    assert codes(html) == ["0142", "0142"]            # the 858 and the 619 number, newest first
    assert "+16195550142" not in html and "+18585550142" not in html
    assert 'href="/dashboard/conversations/1"' in html and "closed" in html
    assert codes(await history(four_days, number="+1 (619) 555-0142")) == ["0142"]
    refused = await get(four_days.client, "/dashboard/history",
                        query_string={"number": "5550142"})
    assert refused.status_code == 400
    assert "neither the last 4 digits" in await refused.get_data(as_text=True)
    assert codes(await history(four_days, number="6195550142")) == ["0142"]


async def test_filters_by_status_responder_code_line_and_dates(four_days):
    assert codes(await history(four_days)) == ["1234", "0142", "7788", "0142"]
    assert codes(await history(four_days, status="closed")) == ["0142", "7788", "0142"]
    assert codes(await history(four_days, status="open")) == ["1234"]
    assert codes(await history(four_days, responder="backup")) == ["0142"]
    # A code is free again once a day has passed since its close: #1, #2, #1, #2.
    assert codes(await history(four_days, code="#1")) == ["0142", "0142"]
    assert codes(await history(four_days, code="2", status="closed")) == ["7788"]
    assert codes(await history(four_days, line="qdn")) == ["1234", "0142", "7788", "0142"]
    # Days are the line's (Los Angeles): the second conversation was on Mon 23 Nov.
    assert codes(await history(four_days, **{"from": "2026-11-23", "to": "2026-11-23"})) == [
        "7788"]
    assert codes(await history(four_days, **{"from": "2026-11-24"})) == ["1234", "0142"]


async def test_history_pages_newest_first(four_days, monkeypatch):
    monkeypatch.setattr(history_routes, "PAGE_SIZE", 3)
    html = await history(four_days)
    assert codes(html) == ["1234", "0142", "7788"]
    older = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    second = await page(four_days.client, older)
    assert codes(second) == ["0142"] and 'rel="next"' not in second and "Newest" in second


async def test_bad_search_input_is_answered_and_the_form_kept(four_days):
    for query, said in (({"number": "42"}, "neither the last 4 digits"),
                        ({"number": "+1 555 abc"}, "not a phone number"),
                        ({"code": "twelve"}, "is not a number"),
                        ({"from": "2026-11-24", "to": "2026-11-22"}, "swap them"),
                        ({"line": "nope"}, "there is no line"),
                        ({"from": "yesterday"}, "type it as 2026-11-22")):
        response = await get(four_days.client, "/dashboard/history", query_string=query)
        html = await response.get_data(as_text=True)
        assert response.status_code == 400 and said in html, (query, html)
        for key in set(query) & {"number", "code", "from", "to"}:    # what was typed stays
            assert f'name="{key}"' in html and f'value="{query[key]}"' in html, (key, html)


async def test_csv_exports_every_match_with_numbers_masked(four_days, monkeypatch):
    monkeypatch.setattr(history_routes, "CSV_BATCH", 2)   # more rows than one batch
    response = await get(four_days.client, "/dashboard/history.csv",
                         query_string={"status": "closed"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await response.get_data(as_text=True))))
    assert rows[0][:3] == ["line", "code", "customer (masked)"]
    assert [row[2] for row in rows[1:]] == ["'+1858***0142", "'+1619***7788", "'+1619***0142"]
    assert {row[4] for row in rows[1:]} == {"closed"}
    assert [row[5] for row in rows[1:]] == ["Backup", "Sergio", "Sergio"]
    assert rows[-1][6] == "2026-11-22 10:00:00 PST"
    assert rows[-1][8] == "2026-11-22T18:00:00.000000Z"
    body = await response.get_data(as_text=True)
    for whole in (FIRST, SECOND, THIRD):
        assert whole not in body
    narrowed = await get(four_days.client, "/dashboard/history.csv",
                         query_string={"number": "7788"})
    assert len(list(csv.reader(io.StringIO(await narrowed.get_data(as_text=True))))) == 2
    refused = await get(four_days.client, "/dashboard/history.csv", query_string={"number": "1"})
    assert refused.status_code == 400


async def test_past_calls_by_number_and_who_took_them(harness):
    with_voicemail = CallSimulator(harness.twilio, caller=FIRST, line_number=LINE,
                                   started_at=harness.clock.now(), voicemail="call me")
    await with_voicemail.run()
    await with_voicemail.deliver_recording()
    harness.clock.advance(60)
    await CallSimulator(harness.twilio, caller=SECOND, line_number=LINE,
                        started_at=harness.clock.now(), voicemail=None).run()
    await log_in(harness.client)
    html = await history(harness, what="calls")
    assert html.index("+1619***7788") < html.index("+1619***0142")
    found = await history(harness, what="calls", number="0142")
    assert "+1619***0142" in found and "7788" not in found
    assert 'href="/dashboard/conversations/1"' in found          # its voicemail's conversation
    assert "+1619" not in await history(harness, what="calls", responder="backup")
    response = await get(harness.client, "/dashboard/history.csv", query_string={"what": "calls"})
    rows = list(csv.reader(io.StringIO(await response.get_data(as_text=True))))
    assert rows[0][:2] == ["line", "caller (masked)"] and len(rows) == 3


def test_typed_numbers():
    assert typed_number("") is None
    assert typed_number("0142") == "0142"
    assert typed_number("(619) 555-0142") == "+16195550142"
    assert typed_number("+44 20 7946 0958") == "+442079460958"
    # More than the last four but not the whole number would uncover, a
    # guess at a time, the digits the masked number hides.
    for bad in ("142", "+1 619", "call me", "0142x", "555-0142", "50142"):
        with pytest.raises(SearchRefused):
            typed_number(bad)


async def test_the_history_needs_a_login(harness):
    for path in ("/dashboard/history", "/dashboard/history.csv"):
        response = await get(harness.client, path)
        assert response.status_code == 302 and response.location.endswith("/dashboard/login")

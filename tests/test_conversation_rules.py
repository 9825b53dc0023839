"""The pure decisions, by table and by property."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.config import parse_config
from ivr.conversations.commands import Ack, Close, Reply, customer_keyword, parse_responder_text
from ivr.conversations.tiers import next_tier, tier_responders
from ivr.conversations.wording import joined_texts, names, split_sms


@pytest.mark.parametrize("body, command", [
    ("ACK", Ack(None)),
    ("ack", Ack(None)),
    (" a c k ", Ack(None)),
    ("ACK 12", Ack(12)),
    ("Ack12", Ack(12)),
    ("ack #12", Ack(12)),
    ("CLOSE 3", Close(3)),
    ("close", Close(None)),
    ("Acknowledged, on my way", Reply("Acknowledged, on my way")),
    ("ACK 12 thanks", Reply("ACK 12 thanks")),
    ("12 on my way", Reply("12 on my way", code=12, rest="on my way")),
    ("#12: on my way", Reply("#12: on my way", code=12, rest="on my way")),
    ("10 minutes away", Reply("10 minutes away", code=10, rest="minutes away")),
    ("12", Reply("12")),
    ("", Reply("")),
])
def test_what_a_responders_text_means(body, command):
    assert parse_responder_text(body) == command


@pytest.mark.parametrize("body, keyword", [
    ("STOP", "opt_out"), ("stop", "opt_out"), (" Unsubscribe ", "opt_out"), ("quit.", "opt_out"),
    ("STOPALL", "opt_out"), ("cancel", "opt_out"), ("end", "opt_out"),
    ("START", "opt_in"), ("yes", "opt_in"), ("unstop", "opt_in"),
    ("HELP", "help"), ("info", "help"),
    ("please stop the truck", None), ("stop by at 5", None), ("", None),
])
def test_opt_out_words_count_only_as_the_whole_message(body, keyword):
    assert customer_keyword(body) == keyword


@given(st.text(max_size=5000), st.integers(min_value=20, max_value=1600))
def test_split_sms_loses_nothing_and_fits(text, limit):
    parts = split_sms(text, limit)
    assert "".join(parts) == text
    assert all(len(part) <= limit for part in parts)
    assert all(parts) or parts == [""]


@given(st.text())
def test_any_text_parses_to_some_command(text):
    command = parse_responder_text(text)
    if isinstance(command, Reply):
        assert command.text == text
        if command.code is not None:
            assert command.rest and command.rest in text


CONFIG = parse_config({
    "responders": {rid: {"name": rid.title(), "phone": f"+1619555{i:04d}"}
                   for i, rid in enumerate(["ana", "bo", "cy"], start=101)},
    "lines": {"l": {"name": "L", "number": "+16195550100", "tiers": ["ana", ["bo", "cy"]]}},
})
LINE = CONFIG.lines["l"]


@pytest.mark.parametrize("tier, expected", [(0, ["ana"]), (1, ["bo", "cy"]), (5, ["bo", "cy"]),
                                            (-1, ["ana"])])
def test_tiers_clamp_to_the_last_which_is_always_tried(tier, expected):
    assert [r.id for r in tier_responders(CONFIG, LINE, tier)] == expected


def test_the_cascade_ends_after_the_last_tier():
    assert next_tier(LINE, 0) == 1 and next_tier(LINE, 1) is None


def test_names_read_naturally():
    responders = tier_responders(CONFIG, LINE, 1)
    assert names(responders) == "Bo or Cy" and names(responders[:1]) == "Bo" and names([]) == ""
    assert names([*tier_responders(CONFIG, LINE, 0), *responders]) == "Ana, Bo or Cy"


def test_joined_texts_cap_media_at_twilios_ten():
    texts = [("a", [f"https://m/{i}" for i in range(8)]), ("", []), ("b", ["https://m/x"] * 5)]
    body, media = joined_texts(texts, "(no text)")
    assert body == "a / b" and len(media) == 10
    assert joined_texts([], "(sin texto)") == ("(sin texto)", ())

"""What a call does after each Dial: a table, since this is where cascades
have gone wrong in the wild (a voicemail box reported as 'completed')."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.voice.after_dial import DialOutcome, after_dial, menu_step, parse_bridged, spoken_number

STATUSES = ["completed", "answered", "busy", "no-answer", "failed", "canceled"]


@pytest.mark.parametrize("dial_status, bridged, accepted, caller, tier, deadline, kind, why", [
    # pressed 1 and bridged: done
    ("completed", True, "sergio", "in-progress", 0, False, "connected", "sergio accepted"),
    ("completed", True, "sergio", "completed", 0, False, "connected", "sergio accepted"),
    # no DialBridged sent: an accepted, completed leg was connected
    ("completed", None, "sergio", "in-progress", 0, False, "connected", "sergio accepted"),
    # a voicemail box answered: completed, not bridged, nobody pressed 1
    ("completed", False, None, "in-progress", 0, False, "dial", "voicemail box"),
    ("completed", None, None, "in-progress", 0, False, "dial", "voicemail box"),
    ("answered", False, None, "in-progress", 0, False, "dial", "nobody pressed 1"),
    ("no-answer", False, None, "in-progress", 0, False, "dial", "within 20 s"),
    ("busy", False, None, "in-progress", 0, False, "dial", "busy"),
    ("failed", False, None, "in-progress", 0, False, "dial", "could not be reached"),
    ("canceled", False, None, "in-progress", 0, False, "dial", "canceled"),
    # accepted but the bridge failed: not a success
    ("completed", False, "sergio", "in-progress", 0, False, "dial", "not bridged"),
    # the last tier failed: voicemail
    ("no-answer", False, None, "in-progress", 1, False, "voicemail", "every tier"),
    # the deadline passed: voicemail even with tiers left
    ("no-answer", False, None, "in-progress", 0, True, "voicemail", "deadline"),
    # the caller hung up: nobody else is dialed
    ("no-answer", False, None, "completed", 0, False, "caller_gone", "hung up"),
    ("canceled", False, None, "canceled", 0, False, "caller_gone", "hung up"),
    ("completed", False, "sergio", "completed", 0, False, "caller_gone", "hung up"),
])
def test_after_dial(dial_status, bridged, accepted, caller, tier, deadline, kind, why):
    step = after_dial(DialOutcome(dial_status, bridged, accepted, caller), tier=tier,
                      tier_count=2, deadline_passed=deadline, ring_seconds=20)
    assert step.kind == kind
    assert why in step.reason
    assert (step.tier == tier + 1) if kind == "dial" else step.tier is None


@given(st.sampled_from(STATUSES), st.sampled_from([True, False, None]),
       st.sampled_from([None, "sergio"]), st.sampled_from(["in-progress", "completed"]),
       st.integers(0, 4), st.booleans())
def test_only_an_accepted_leg_ever_connects_and_the_cascade_always_ends(
        dial_status, bridged, accepted, caller, tier, deadline):
    step = after_dial(DialOutcome(dial_status, bridged, accepted, caller), tier=tier,
                      tier_count=5, deadline_passed=deadline, ring_seconds=20)
    if step.kind == "connected":
        assert accepted is not None
    if step.kind == "dial":
        assert step.tier == tier + 1 < 5 and not deadline and caller == "in-progress"
    if tier == 4 and step.kind not in ("connected", "caller_gone"):
        assert step.kind == "voicemail"


@pytest.mark.parametrize("chosen, tries, step", [
    (True, 0, "chosen"), (True, 1, "chosen"), (False, 0, "repeat"), (False, 1, "fall_through"),
    (False, 5, "fall_through"),
])
def test_the_menu_repeats_once_then_falls_through(chosen, tries, step):
    assert menu_step(chosen, tries) == step


@pytest.mark.parametrize("raw, value", [("true", True), ("True", True), ("false", False),
                                        ("", None), (None, None)])
def test_dial_bridged(raw, value):
    assert parse_bridged(raw) is value


def test_numbers_are_spoken_digit_by_digit():
    assert spoken_number("+16195550142") == "6 1 9, 5 5 5, 0 1 4 2"
    assert spoken_number("+442071838750") == "4 4 2, 0 7 1, 8 3 8, 7 5 0"
    assert spoken_number("anonymous") is None   # the whisper says unknown_number

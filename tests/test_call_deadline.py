"""The call's deadline holds while a tier rings: each Dial's timeout is the
smaller of ring_seconds and the time left (issue 15, item 6)."""

from datetime import datetime, timedelta, timezone

import pytest

from ivr.clock import from_text
from ivr.config import parse_config
from ivr.voice.ring_time import MIN_DIAL_SECONDS, dial_timeout

from .support.call_simulator import NO_ANSWER, CallSimulator
from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

ANA = "+16195550103"
T0 = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("ring, left, expected", [
    (60, 30, 30),      # the case: the deadline, not ring_seconds
    (20, 300, 20),     # plenty left: ring_seconds
    (20, 20, 20),
    (20, 12.9, 12),    # whole seconds, never past the deadline
    (20, 5, 5),        # Twilio's minimum is still a Dial
    (20, 4.99, None),  # less than Twilio's minimum: voicemail instead
    (20, 0, None),
    (20, -30, None),   # already past
])
def test_dial_timeout_table(ring, left, expected):
    assert dial_timeout(ring, T0, T0 + timedelta(seconds=left)) == expected


def test_the_minimum_is_twilios():
    assert MIN_DIAL_SECONDS == 5


@pytest.fixture
def config(request, tmp_path, database):
    ring, deadline = request.param
    return parse_config({
        "service": {"database": database},
        "responders": {"sergio": {"name": "Sergio", "phone": SERGIO},
                       "backup": {"name": "Backup", "phone": BACKUP},
                       "ana": {"name": "Ana", "phone": ANA}},
        "lines": {"qdn": {"name": "Quick Dump Now", "number": LINE, "code": "QDN",
                          "tiers": ["sergio", "backup", "ana"], "ring_seconds": ring,
                          "call_deadline_seconds": deadline}},
    }, "test.toml")


class ClockedCall(CallSimulator):
    """The simulator with the app's FrozenClock moved along its virtual
    clock, so the service sees the time a real call would have taken."""

    def __init__(self, harness, **script):
        super().__init__(harness.twilio, caller=CUSTOMER, line_number=LINE,
                         started_at=harness.clock.now(), **script)
        self.frozen = harness.clock

    async def _send(self, url, method, params):
        self.frozen.set(self.started_at + timedelta(seconds=self.clock))
        return await super()._send(url, method, params)


async def decisions(harness, kind):
    return [d for d in await harness.decisions() if d.kind == kind]


def dial_timeouts(transcript):
    return [int(dial.get("timeout")) for _, doc in transcript.documents
            for dial in doc.iter("Dial")]


@pytest.mark.parametrize("config", [(60, 30)], indirect=True)
async def test_ring_60_deadline_30_the_first_dial_rings_30(harness):
    transcript = await ClockedCall(harness, legs={SERGIO: NO_ANSWER}).run()
    assert dial_timeouts(transcript)[0] == 30
    assert transcript.dials == [[SERGIO]]
    assert transcript.recorded  # the deadline passed as the Dial ended: voicemail
    [dialed] = await decisions(harness, "tier_dialed")
    assert "rings 30 s, all the call's deadline leaves" in dialed.reason
    [failed] = await decisions(harness, "tier_failed")
    assert "nobody answered within 30 s" in failed.reason
    [voicemail] = await decisions(harness, "voicemail_started")
    assert "deadline has passed" in voicemail.reason


@pytest.mark.parametrize("config", [(20, 40)], indirect=True)
async def test_no_dial_rings_past_the_deadline(harness):
    transcript = await ClockedCall(harness, legs={}).run()
    timeouts = dial_timeouts(transcript)
    assert timeouts[0] == 20
    # The next tier rings only what is left; the third never rings.
    assert len(timeouts) == 2 and MIN_DIAL_SECONDS <= timeouts[1] < 20
    assert [d.responder_id for d in await decisions(harness, "tier_dialed")] == [
        "sergio", "backup"]
    assert transcript.recorded
    [voicemail] = await decisions(harness, "voicemail_started")
    assert "deadline has passed" in voicemail.reason
    # Voicemail starts at the deadline, not a ring_seconds later.
    assert from_text(voicemail.at) - T0 <= timedelta(seconds=40 + 1)


@pytest.mark.parametrize("config", [(20, 30)], indirect=True)
async def test_less_than_twilios_minimum_left_goes_to_voicemail(harness):
    # A first tier that rang to 26 s leaves 4 s: no Dial of 4 s, voicemail now.
    class Late(ClockedCall):
        async def _send(self, url, method, params):
            if "/voice/dial-result" not in url:
                return await super()._send(url, method, params)
            self.frozen.set(self.started_at + timedelta(seconds=26))
            return await CallSimulator._send(self, url, method, params)

    transcript = await Late(harness, legs={}).run()
    assert transcript.dials == [[SERGIO]] and transcript.recorded
    [voicemail] = await decisions(harness, "voicemail_started")
    assert f"less than {MIN_DIAL_SECONDS} s to ring" in voicemail.reason

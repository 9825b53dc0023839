"""Failures that must not feed themselves (issue 14, items 1 and 9): a
responder who cannot take texts, Twilio refusing every send, a long outage.
Every conversation ends in a bounded number of sends."""

import asyncio

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ivr.clock import FrozenClock
from ivr.config import load_config

from .support.fake_twilio import FakeTwilio
from .support.harness import BACKUP, CUSTOMER, EXAMPLE_CONFIG, LINE, SERGIO, Harness, open_harness
from .support.phone_page import PhonePage

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

ACK_SECONDS = 120   # the example line's ack_seconds
LANDLINE = "30006"  # Twilio: landline or unreachable carrier


async def report_every_page_to(harness: Harness, number: str, status: str, code: str,
                               reported: set[str]) -> int:
    """Twilio's status callback for each text to `number` not yet reported."""
    count = 0
    for message in harness.fake.messages_to(number):
        if message.sid not in reported:
            reported.add(message.sid)
            await harness.twilio.message_status(message_sid=message.sid, to=number, from_=LINE,
                                                status=status, error_code=code)
            count += 1
    return count


async def outbox_size(harness: Harness) -> int:
    return len(await harness.store.read(lambda tx: tx.outbox_rows()))


async def test_a_landline_in_the_last_tier_gets_the_last_round_once(harness):
    """Before: each failed 'last call' to the landline fired the unanswered
    round again, 68 texts to the first responder in 14 s and no end."""
    reported: set[str] = set()
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="bin on fire")
    await harness.deliver_outbox()
    for _ in range(6):   # the same round of Twilio callbacks and timers, again and again
        harness.clock.advance(ACK_SECONDS + 1)
        await harness.fire_timers()
        await harness.deliver_outbox()
        await report_every_page_to(harness, BACKUP, "undelivered", LANDLINE, reported)
        await harness.deliver_outbox()
    to_sergio = [m.body for m in harness.fake.messages_to(SERGIO)]
    assert sum("UNANSWERED" in body for body in to_sergio) == 1, to_sergio
    assert len(to_sergio) <= 3, to_sergio          # the page, at most a notice, the last round
    # The landline got its one page; the last round was not texted to it.
    assert len(harness.fake.messages_to(BACKUP)) == 1
    kinds = [d.kind for d in await harness.decisions()]
    assert kinds.count("unanswered") == 1
    assert kinds.count("number_unreachable") == 1
    unreachable = await harness.store.read(lambda tx: tx.unreachable_numbers())
    assert [row[0] for row in unreachable] == [BACKUP]
    size = await outbox_size(harness)
    harness.clock.advance(3600)
    await harness.fire_timers()
    await harness.deliver_outbox()
    assert await outbox_size(harness) == size       # quiet: nothing more to send


async def test_a_marked_number_works_again_once_its_responder_texts(harness):
    reported: set[str] = set()
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="first")
    await harness.deliver_outbox()
    await report_every_page_to(harness, SERGIO, "undelivered", LANDLINE, reported)
    assert await harness.store.read(lambda tx: tx.unreachable(SERGIO)) is not None
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ON")
    assert await harness.store.read(lambda tx: tx.unreachable(SERGIO)) is None


async def test_twilio_refusing_every_send_leaves_the_outbox_bounded(harness):
    """Before: with every send refused (404, a revoked key), 730 conversations
    made 189,000 outbox rows in three minutes."""
    harness.fake.fail_next(404, 20404, "The requested resource was not found", times=100_000)
    customers = [f"+1619555{n:04d}" for n in range(20)]
    for customer in customers:
        await harness.twilio.text(from_=customer, to=LINE, body="hello")
    for _ in range(5):
        await harness.deliver_outbox()
        harness.clock.advance(ACK_SECONDS + 1)
        await harness.fire_timers()
    await harness.deliver_outbox()
    size = await outbox_size(harness)
    # Per conversation: the first page, the next tier's page, a notice, the
    # customer's update and the last round to both: a handful, not thousands.
    assert size <= 8 * len(customers), size
    for _ in range(3):
        harness.clock.advance(3600)
        await harness.fire_timers()
        await harness.deliver_outbox()
    assert await outbox_size(harness) == size
    # An account-level refusal says nothing of the numbers: none is marked.
    assert await harness.store.read(lambda tx: tx.unreachable_numbers()) == []


async def test_a_long_outage_delays_pages_but_drops_none(harness):
    """Before: with Twilio answering 500 for 330 s, first-tier pages were
    given up after 8 attempts and the first tier was then told 'nobody took
    it in time' about a page it never received."""
    harness.fake.fail_next(500, 20500, "Internal Server Error", times=10_000)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="during the outage")
    for _ in range(12):                      # 12 retries over about ten minutes
        await harness.deliver_outbox()
        harness.clock.advance(60)
    assert harness.fake.messages_to(SERGIO) == []
    harness.fake.failures.clear()            # Twilio is back
    await harness.fire_timers()
    harness.clock.advance(60)
    await harness.deliver_outbox()
    to_sergio = [m.body for m in harness.fake.messages_to(SERGIO)]
    assert any("during the outage" in body and "ACK" in body for body in to_sergio), to_sergio
    assert not any("nobody took it in time" in body for body in to_sergio), to_sergio
    rows = await harness.store.read(lambda tx: tx.outbox_rows())
    assert not [row for row in rows if row["status"] == "failed"], rows


FAILURES = st.sampled_from([
    None, None, None,                                  # most sends go through
    (500, 20500), (429, 20429),                        # Twilio will take it later
    (400, 21211), (400, 21614),                        # this number never will
    (404, 20404),                                      # the account is wrong
])
STATUSES = st.sampled_from([("delivered", None), ("undelivered", "30003"),
                            ("undelivered", LANDLINE), ("failed", "30005")])


ANSWERS = st.sampled_from(["no-answer", "busy", "voicemail", "1", "2", "3"])
PHONE_PAGES_CONFIG = EXAMPLE_CONFIG.with_name("phone-pages.toml")


class FailingSends(RuleBasedStateMachine):
    """Random texts, random send and delivery failures (temporary and
    permanent, a responder whose every page fails among them), timers firing,
    phone pages refused, unanswered, answered by voicemail or with keys:
    every conversation ends in a bounded number of sends and calls."""

    @initialize(landline=st.booleans())
    def start(self, landline: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.landline = BACKUP if landline else None
        self.customers: list[str] = []
        self.reported: set[str] = set()
        self.harness, self.exit = self.run(self._open())

    async def _open(self):
        import tempfile
        self.tmp = tempfile.TemporaryDirectory()
        fake = await FakeTwilio().start()
        config = load_config(PHONE_PAGES_CONFIG,
                             database_override=f"{self.tmp.name}/ivr.sqlite3")
        context = open_harness(config, fake, FrozenClock())
        return await context.__aenter__(), (context, fake)

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        if hasattr(self, "exit"):
            self.run(self._settles())
            context, fake = self.exit
            self.run(context.__aexit__(None, None, None))
            self.run(fake.stop())
            self.tmp.cleanup()
        self.loop.close()

    @precondition(lambda self: len(self.customers) < 4)
    @rule(failure=FAILURES)
    def a_customer_texts(self, failure) -> None:
        customer = f"+1619555{len(self.customers) + 200:04d}"
        self.customers.append(customer)
        self.run(self.harness.twilio.text(from_=customer, to=LINE, body="help"))
        self.deliver(failure)

    @rule(failure=FAILURES)
    def the_outbox_sends(self, failure) -> None:
        self.deliver(failure)

    @rule(status=STATUSES)
    def twilio_reports_deliveries(self, status) -> None:
        async def report():
            for message in list(self.harness.fake.messages):
                if message.sid in self.reported:
                    continue
                self.reported.add(message.sid)
                chosen, code = status
                if message.to == self.landline:
                    chosen, code = "undelivered", LANDLINE
                await self.harness.twilio.message_status(
                    message_sid=message.sid, to=message.to, from_=LINE, status=chosen,
                    error_code=code)
        self.run(report())

    @rule(failure=FAILURES, answer=ANSWERS)
    def phones_ring(self, failure, answer: str) -> None:
        """Due phone pages are placed (or refused); each placed one is
        answered one way or another."""
        async def ring():
            if failure is not None:
                self.harness.fake.fail_next(*failure)
            already = len(self.harness.fake.calls)
            await self.harness.services.phone_pager.place_due()
            for placed in self.harness.fake.calls[already:]:
                phone = PhonePage(self.harness, placed)
                if answer in ("no-answer", "busy"):
                    await phone.ended(answer)
                    continue
                spoken = await phone.answer()
                for key in ("" if answer == "voicemail" else answer, ""):
                    if spoken.root.find("Gather") is None:
                        break
                    spoken = await phone.press(spoken, key)
                await phone.ended()
        self.run(ring())

    @rule(seconds=st.sampled_from([30, 45, ACK_SECONDS + 1, 600]))
    def time_passes(self, seconds: int) -> None:
        self.harness.clock.advance(seconds)
        self.run(self.harness.fire_timers())

    def deliver(self, failure) -> None:
        if failure is not None:
            self.harness.fake.fail_next(*failure)
        self.run(self.harness.deliver_outbox())

    @invariant()
    def sends_stay_bounded(self) -> None:
        if not hasattr(self, "harness"):
            return
        rows = self.run(self.harness.store.read(lambda tx: tx.outbox_rows()))
        # Per conversation at most: a page per tier, a notice, the customer's
        # ack update, the last round to everyone; split texts aside. Calls:
        # two per responder per tier paged (PASS and a return may page a
        # tier again), an owner's call after a failed forward.
        customers = max(len(self.customers), 1)
        assert len(rows) <= 10 * customers, len(rows)
        assert len(self.harness.fake.calls) <= 12 * customers, len(self.harness.fake.calls)

    async def _settles(self) -> None:
        """Whatever happened, a day later the line is quiet: nothing is sent
        again and again."""
        harness = self.harness
        harness.fake.failures.clear()
        sizes = []
        for _ in range(6):
            harness.clock.advance(4 * 3600)
            await harness.fire_timers()
            await harness.deliver_outbox()
            await harness.services.phone_pager.place_due()
            sizes.append((len(await harness.store.read(lambda tx: tx.outbox_rows())),
                          len(harness.fake.calls)))
        assert sizes[-1] == sizes[-3], sizes


FailingSends.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
test_failing_sends_end_every_conversation_in_bounded_sends = FailingSends.TestCase

import pytest

from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines


async def test_a_text_is_forwarded_to_tier_one_and_the_customer_acknowledged(harness):
    response = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Dumpster is full")
    assert response.status == 200
    assert response.messages() == ["Thanks, we got your message. Sergio will reply shortly."]

    assert await harness.deliver_outbox() == 1
    [page] = harness.fake.messages
    assert page.to == SERGIO and page.from_ == LINE
    assert page.body == "[QDN #1] +1 619-555-0142: Dumpster is full - reply ACK to take it"
    assert page.status_callback == "https://ivr.example.com/sms/status"
    assert harness.fake.messages_to(BACKUP) == []

    kinds = [d.kind for d in await harness.decisions()]
    assert kinds == ["conversation_opened", "message_forwarded", "customer_acknowledged"]

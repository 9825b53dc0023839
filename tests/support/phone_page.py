"""A responder's phone answering a phone page as Twilio plays it: the
placed call's Url fetched with a signed POST, its TwiML checked, the keys
posted to its Gather's action, and the call's end to its StatusCallback."""

from __future__ import annotations

from urllib.parse import urlsplit

from .harness import LINE, Harness
from .twiml_check import check_twiml


class PhonePage:
    """The responder's phone: answers the placed call as Twilio would."""

    def __init__(self, harness: Harness, placed):
        self.harness = harness
        self.placed = placed
        self.sid = placed.sid

    def _params(self, **extra):
        return [("CallSid", self.sid), ("AccountSid", "AC" + "0" * 32), ("From", LINE),
                ("To", self.placed.to), ("Direction", "outbound-api"),
                ("ApiVersion", "2010-04-01"), *extra.items()]

    async def _post(self, url, **extra):
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = await self.harness.twilio.post(path, self._params(**extra))
        assert response.status == 200, response.body
        return response

    async def answer(self):
        """The call is answered: the TwiML Twilio fetches from its Url."""
        response = await self._post(self.placed.url, CallStatus="in-progress")
        return Spoken(check_twiml(response.body))

    async def press(self, spoken, digits):
        gather = spoken.root.find("Gather")
        assert gather is not None, "no key was asked for"
        response = await self._post(gather.get("action"), CallStatus="in-progress",
                                    Digits=digits)
        return Spoken(check_twiml(response.body))

    async def ended(self, status="completed"):
        await self._post(self.placed.form["StatusCallback"][0], CallStatus=status)


class Spoken:
    def __init__(self, root):
        self.root = root
        self.words = " ".join(e.text or "" for e in root.iter("Say"))
        self.hangs_up = root.find("Hangup") is not None and root.find("Gather") is None

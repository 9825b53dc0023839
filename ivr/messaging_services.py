"""Messaging Services (issue 17). US carriers block texts from local numbers
that are not registered for A2P 10DLC, and Twilio attaches that registration
to a Messaging Service, so a line may send through one
(`[lines.X] messaging_service = "MG..."`). A number in a Messaging Service
has its incoming texts sent where the service says, which can bypass the
number's own webhook that `ivr twilio configure` sets.

Here: the config key's check, and the pure rules that say, from what Twilio
holds, whether a line's texts would reach ivr and what to change. The REST
reads and writes are the gateway's; `ivr check` and `ivr twilio configure`
print what these rules find."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from .config import Line

# A Messaging Service SID, as Twilio's Message create takes it
# (shared/twilio-oai: MessagingServiceSid "^MG[0-9a-fA-F]{32}$", 34 characters).
SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
DEFER_FLAG = "--messaging-service-webhook"
DEFER_FIX = ("in the Twilio Console (Messaging > Services > {name} > Integration) set "
             "'Incoming messages' to 'Defer to sender's webhook', or run "
             f"`ivr twilio configure {DEFER_FLAG}`")


def messaging_service_sid(validator: Any, entry: Mapping[str, Any], key: str) -> str | None:
    """`messaging_service` of a [lines.X] table: a Messaging Service SID, or None."""
    value = entry.get("messaging_service")
    if value is None:
        return None
    if not isinstance(value, str) or not SERVICE_SID.fullmatch(value.strip()):
        raise validator.fail(key, f"{value!r} is not a Messaging Service SID (MG and 32 hex "
                                  "digits, 34 characters)",
                             'copy it from the Twilio Console, Messaging > Services, e.g. '
                             'messaging_service = "MG0123456789abcdef0123456789abcdef", '
                             "or remove it to send from the line's number")
    return value.strip()


@dataclass(frozen=True)
class MessagingService:
    """A Messaging Service as Twilio holds it (Messaging v1 Services and
    Services/{sid}/PhoneNumbers), read by the gateway."""
    sid: str
    friendly_name: str
    inbound_request_url: str | None
    use_inbound_webhook_on_number: bool
    numbers: tuple[str, ...]   # its sender pool's phone numbers, E.164


@dataclass(frozen=True)
class Finding:
    """Something about a line's Messaging Service. A `problem` loses texts
    or sends them unregistered; `fixable` ones `ivr twilio configure
    --messaging-service-webhook` can put right on the service."""
    line_id: str
    service_sid: str
    says: str
    fix: str
    problem: bool = True
    fixable: bool = False

    def describe(self) -> str:
        kind = "PROBLEM" if self.problem else "WARNING"
        return f"{kind}: {self.line_id}: {self.says}. Fix: {self.fix}"


def reaches_ivr(service: MessagingService, sms_url: str) -> bool:
    """Whether a text to a number of `service` is posted to ivr's SMS webhook:
    the service defers to the number's own webhook (which configure sets), or
    its own Inbound Request URL is ivr's. A null Inbound Request URL means
    Twilio drops incoming texts (Messaging v1 Service resource)."""
    if service.use_inbound_webhook_on_number:
        return True
    return bool(service.inbound_request_url) and _same_url(service.inbound_request_url or "",
                                                          sms_url)


def _same_url(one: str, other: str) -> bool:
    # The fragment holds connection overrides, not part of the address.
    return one.split("#")[0].rstrip("/") == other.split("#")[0].rstrip("/")


def findings(lines: Iterable["Line"], services: Iterable[MessagingService],
             sms_url: str) -> list[Finding]:
    """What would keep each line's texts from ivr or from its own number."""
    services = list(services)
    by_sid = {service.sid: service for service in services}
    found: list[Finding] = []
    for line in lines:
        if line.messaging_service:
            found += _named_service(line, by_sid.get(line.messaging_service))
        for service in services:
            if line.number in service.numbers and not reaches_ivr(service, sms_url):
                found.append(_bypass(line, service))
    return found


def _named_service(line: "Line", service: MessagingService | None) -> list[Finding]:
    sid = line.messaging_service or ""
    if service is None:
        return [Finding(line.id, sid, f"lines.{line.id}.messaging_service {sid} is not a "
                        "Messaging Service of this account, so every text of this line "
                        "would be refused",
                        "copy the SID from the Twilio Console (Messaging > Services), or "
                        "remove messaging_service to send from the number")]
    if line.number not in service.numbers:
        return [Finding(line.id, sid, f"the number {line.number} is not in Messaging Service "
                        f"{sid} ({service.friendly_name}), so Twilio would send this line's "
                        "texts from another number, and customers' replies would not reach "
                        "this line",
                        f"in the Twilio Console add {line.number} to the service's Sender "
                        f"Pool (Messaging > Services > {service.friendly_name} > Sender Pool)")]
    others = [number for number in service.numbers if number != line.number]
    if others:
        return [Finding(line.id, sid, f"Messaging Service {sid} also sends from "
                        f"{', '.join(others)}; Twilio may text a customer from one of those, "
                        "and a reply to it does not reach this line",
                        "give this line a Messaging Service whose Sender Pool holds only "
                        f"{line.number}", problem=False)]
    return []


def _bypass(line: "Line", service: MessagingService) -> Finding:
    where = (f"sends texts to {service.inbound_request_url}, not ivr"
             if service.inbound_request_url else
             "drops them (it has no Inbound Request URL)")
    return Finding(line.id, service.sid,
                   f"the number {line.number} is in Messaging Service {service.sid} "
                   f"({service.friendly_name}); its 'Incoming messages' setting {where}",
                   DEFER_FIX.format(name=service.friendly_name), fixable=True)

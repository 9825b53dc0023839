"""What `ivr check` and `ivr twilio configure` say about Messaging Services,
and what configure changes on them: the account's services are read through
the gateway and judged by ivr.messaging_services. REST failures reach the
caller as SendError, which it words (admin.rest_problem)."""

from __future__ import annotations

from typing import Iterable, TextIO

from .config import Config, Line
from .gateway import TwilioGateway
from .messaging_services import DEFER_FLAG, Finding, MessagingService, findings
from .secrets import Secrets


async def configure(gateway: TwilioGateway, lines: Iterable[Line], sms_url: str, fix: bool,
                    dry_run: bool, out: TextIO, err: TextIO) -> int:
    """Report each finding; with `fix`, set each service that bypasses ivr to
    defer to its numbers' webhooks. Returns how many problems are left."""
    services = await gateway.messaging_services()
    by_sid = {service.sid: service for service in services}
    left = 0
    fixed: set[str] = set()
    for finding in findings(lines, services, sms_url):
        if finding.fixable and fix:
            if finding.service_sid not in fixed:
                fixed.add(finding.service_sid)
                await _defer(gateway, by_sid[finding.service_sid], dry_run, out)
            continue
        err.write(finding.describe() + "\n")
        left += finding.problem
    return left


async def _defer(gateway: TwilioGateway, service: MessagingService, dry_run: bool,
                 out: TextIO) -> None:
    verb = "would set" if dry_run else "setting"
    out.write(f"Messaging Service {service.sid} ({service.friendly_name}): {verb}\n"
              f"  use_inbound_webhook_on_number: false -> true ('Incoming messages': "
              f"'Defer to sender's webhook'; was {service.inbound_request_url or 'no URL'}). "
              f"Each of its {len(service.numbers)} number(s) then takes texts at its own "
              "'A message comes in' webhook\n")
    if not dry_run:
        await gateway.defer_inbound_to_numbers(service.sid)


def need_reading(config: Config) -> bool:
    """`ivr check` reads Messaging Services only for a config that names one:
    otherwise it makes no REST request at all (configure always reads them)."""
    return any(line.messaging_service for line in config.lines.values())


async def check(config: Config, secrets: Secrets, sms_url: str,
                out: TextIO) -> list[Finding]:
    """The findings `ivr check` prints, or none with a note of why not read."""
    if not need_reading(config):
        return []
    if secrets.local:
        out.write("Messaging Services: not read in local mode (its fake Twilio has none)\n")
        return []
    gateway = TwilioGateway(secrets)
    await gateway.start()
    try:
        services = await gateway.messaging_services()
    finally:
        await gateway.close()
    found = findings(config.lines.values(), services, sms_url)
    named = sorted({line.messaging_service or "" for line in config.lines.values()} - {""})
    if not any(f.problem for f in found):
        out.write(f"Messaging Service(s) {', '.join(named)}: OK - each line's number is in "
                  "its pool, and incoming texts reach ivr\n")
    for finding in found:
        out.write(finding.describe() + "\n")
    if any(f.fixable for f in found):
        out.write(f"`ivr twilio configure {DEFER_FLAG} --dry-run` shows the change it would "
                  "make\n")
    return found

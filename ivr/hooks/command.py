"""`ivr hooks list` and `ivr hooks test NAME`: what is configured, and
whether an endpoint takes a signed sample event (exit 1 if it does not)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TextIO

from ..clock import to_text
from ..config import Config
from ..secrets import Secrets
from ..startup_checks import StartupError
from .config import Hook
from .payload import encode, sample_event
from .sender import HookSender, HookUnreachable


def list_hooks(config: Config, secrets: Secrets, out: TextIO) -> int:
    if not config.hooks:
        out.write(f"No [hooks.NAME] tables in {config.path}.\n")
        return 0
    for hook in config.hooks:
        secret = (hook.secret_setting if hook.secret_setting in secrets.hook_secrets
                  else "the config's secret")
        out.write(f"{hook.name}: {hook.url}\n"
                  f"  events: {', '.join(sorted(hook.events)) or 'all'}; "
                  f"lines: {', '.join(sorted(hook.lines)) or 'all'}; "
                  f"customer numbers and texts: {'sent' if hook.include_customer else 'kept'}; "
                  f"signed with {secret}\n")
    return 0


async def test_hook(config: Config, name: str, out: TextIO, err: TextIO) -> int:
    hook = _named(config, name)
    now = datetime.now(timezone.utc)
    body = encode(sample_event(hook, config, to_text(now)))
    sender = HookSender()
    try:
        answer = await sender.post(hook.url, hook.secret or "", body, int(now.timestamp()),
                                   hook.timeout_seconds)
    except HookUnreachable as exc:
        err.write(f"ivr: hooks.{name}: {hook.url} did not answer: {exc}\n")
        return 1
    finally:
        await sender.close()
    out.write(f"hooks.{name}: HTTP {answer.status} from {hook.url}\n")
    if answer.text:
        out.write(f"  {answer.text}\n")
    if not answer.ok:
        err.write(f"ivr: hooks.{name}: the endpoint answered HTTP {answer.status}, not 2xx: "
                  f"ivr would retry this event, then log it as hook_failed\n")
        return 1
    return 0


def _named(config: Config, name: str) -> Hook:
    for hook in config.hooks:
        if hook.name == name:
            return hook
    known = ", ".join(h.name for h in config.hooks) or "none configured"
    raise StartupError(f"{config.path}: no [hooks.{name}]. Fix: use one of: {known}")

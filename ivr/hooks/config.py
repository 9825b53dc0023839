"""[hooks.NAME] tables: where events are POSTed, signed with which secret,
which events and lines, and whether customer numbers and texts may leave.

    [hooks.crm]
    url = "https://crm.example.com/ivr-events"
    events = ["conversation_opened", "closed"]   # default: every event
    lines = ["main"]                             # default: every line
    include_customer = false                     # default: numbers masked, no texts
    # secret = "..."  or, better, IVR_HOOK_SECRET_CRM in the environment / env file
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlparse

from ..secrets import HOOK_SECRET_PREFIX, Secrets
from .events import EVENT_TYPES, HookRoute

if TYPE_CHECKING:
    from ..config import _Validator

HOOK_KEYS = {"url", "secret", "events", "lines", "include_customer", "timeout_seconds",
             "max_attempts", "retry_seconds", "give_up_hours"}
TIMEOUT_RANGE = (1, 30)            # seconds the endpoint has to answer one POST
MAX_ATTEMPTS_RANGE = (1, 100)
RETRY_SECONDS_RANGE = (1, 3_600)   # the first retry's delay; it doubles, capped at an hour
GIVE_UP_HOURS_RANGE = (1, 168)
MIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class Hook:
    name: str
    url: str
    secret: str | None               # None until resolve_secrets finds it in the environment
    events: frozenset[str] = frozenset()   # empty: every event
    lines: frozenset[str] = frozenset()    # empty: every line
    include_customer: bool = False
    timeout_seconds: int = 10
    max_attempts: int = 20
    retry_seconds: int = 5
    give_up_hours: int = 24

    @property
    def route(self) -> HookRoute:
        return HookRoute(self.name, self.events, self.lines)

    @property
    def secret_setting(self) -> str:
        return secret_setting(self.name)

    def __repr__(self) -> str:   # never the secret
        return f"Hook({self.name!r}, {self.url!r})"


def secret_setting(name: str) -> str:
    return HOOK_SECRET_PREFIX + name.upper().replace("-", "_")


def parse_hooks(v: "_Validator", data: Mapping[str, Any], line_ids: set[str]) -> tuple[Hook, ...]:
    raw = v.table(data, "hooks", required=False)
    return tuple(_parse_hook(v, name, raw, line_ids) for name in raw)


def _parse_hook(v: "_Validator", name: str, raw: Mapping[str, Any], line_ids: set[str]) -> Hook:
    key = f"hooks.{name}"
    v.identifier(name, key)
    entry = v.table(raw, name, required=True, key=key)
    v.only_keys(entry, key, HOOK_KEYS)
    return Hook(
        name=name, url=_url(v, entry, f"{key}.url"), secret=_secret(v, entry, key, name),
        events=_names(v, entry, f"{key}.events", set(EVENT_TYPES), '["conversation_opened"]'),
        lines=_names(v, entry, f"{key}.lines", line_ids, '["main"]'),
        include_customer=v.flag(entry, f"{key}.include_customer", False),
        timeout_seconds=v.integer(entry, f"{key}.timeout_seconds", "timeout_seconds", 10,
                                  TIMEOUT_RANGE),
        max_attempts=_count(v, entry, f"{key}.max_attempts", 20, MAX_ATTEMPTS_RANGE),
        retry_seconds=v.integer(entry, f"{key}.retry_seconds", "retry_seconds", 5,
                                RETRY_SECONDS_RANGE),
        give_up_hours=_count(v, entry, f"{key}.give_up_hours", 24, GIVE_UP_HOURS_RANGE))


def _url(v: "_Validator", entry: Mapping[str, Any], key: str) -> str:
    url = v.string(entry, key, "url")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise v.fail(key, "must be an http(s) URL", 'write url = "https://crm.example.com/ivr"')
    return url


def _secret(v: "_Validator", entry: Mapping[str, Any], key: str, name: str) -> str | None:
    if "secret" not in entry:
        return None
    secret = v.string(entry, f"{key}.secret", "secret")
    if len(secret) < MIN_SECRET_LENGTH:
        raise v.fail(f"{key}.secret", f"shorter than {MIN_SECRET_LENGTH} characters",
                     f"use a long random secret (e.g. `openssl rand -hex 32`), or remove it "
                     f"and set {secret_setting(name)} in the environment")
    return secret


def _names(v: "_Validator", entry: Mapping[str, Any], key: str, known: set[str],
           example: str) -> frozenset[str]:
    name = key.rsplit(".", 1)[1]
    values = entry.get(name, [])
    if not isinstance(values, list) or not all(isinstance(x, str) for x in values):
        raise v.fail(key, "must be a list of names", f"write {name} = {example}, or remove it "
                                                      f"for all")
    for value in values:
        if value not in known:
            raise v.fail(key, f"{value!r} is unknown",
                         f"use some of: {', '.join(sorted(known))}")
    return frozenset(values)


def _count(v: "_Validator", entry: Mapping[str, Any], key: str, default: int,
           bounds: tuple[int, int]) -> int:
    name = key.rsplit(".", 1)[1]
    value = entry.get(name, default)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise v.fail(key, f"{value!r} is not a whole number from {low} to {high}",
                     f"write {name} = {default}")
    return value


class MissingHookSecret(ValueError):
    """A hook with no secret in its table or the environment: nothing to sign with."""


def resolve_secrets(hooks: tuple[Hook, ...], secrets: Secrets,
                    config_path: str) -> tuple[Hook, ...]:
    """Each hook with its secret: its own `secret`, else IVR_HOOK_SECRET_<NAME>."""
    resolved = []
    for hook in hooks:
        secret = hook.secret or secrets.hook_secrets.get(hook.secret_setting)
        if not secret:
            raise MissingHookSecret(
                f"{config_path}: hooks.{hook.name}: no signing secret. Fix: set "
                f"{hook.secret_setting} in the environment or env file (a long random "
                f"string, shared with the receiver)")
        resolved.append(replace(hook, secret=secret))
    return tuple(resolved)

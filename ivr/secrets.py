"""Secrets and deployment settings from the environment or an env file.

Nothing here is ever formatted into a log line: Secrets' repr hides values.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

from .passwords import hash_password, valid_hash

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.twilio.com"

SECRET_NAMES = (
    "TWILIO_AUTH_TOKEN",
    "TWILIO_AUTH_TOKEN_PREVIOUS",
    "TWILIO_API_SECRET",
    "IVR_OPERATOR_PASSWORD",
    "IVR_SESSION_SECRET",
)
KNOWN_NAMES = SECRET_NAMES + (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY",
    "TWILIO_API_BASE",
    "IVR_PUBLIC_BASE_URL",
    "IVR_FALLBACK_BASE_URL",
    "IVR_OPERATOR_PASSWORD_HASH",
)

# A hook's signing secret, when its [hooks.NAME] table has none:
# IVR_HOOK_SECRET_<NAME>, the name upper-cased with '-' as '_' (ivr/hooks/config.py).
HOOK_SECRET_PREFIX = "IVR_HOOK_SECRET_"
_HOOK_SECRET_NAME = re.compile(re.escape(HOOK_SECRET_PREFIX) + r"[A-Z0-9_]+")

# Settings read from the environment only: the env file holds the secrets.
ENVIRONMENT_ONLY = ("IVR_CONFIG", "IVR_BIND", "IVR_DATABASE", "IVR_ENV_FILE", "IVR_LOG_LEVEL",
                    "IVR_LOG_FORMAT")
# A key is named in an error only if it looks like a variable name: a line
# such as `c2VjcmV0=` may be a pasted secret, not a key.
_NAME_LIKE = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")


class SecretsError(Exception):
    """A problem with the secrets, worded as what to do about it."""


@dataclass(frozen=True)
class Secrets:
    auth_token: str | None = field(default=None, repr=False)
    auth_token_previous: str | None = field(default=None, repr=False)
    account_sid: str | None = None
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    api_base: str = DEFAULT_API_BASE
    public_base_url: str | None = None
    # A second address of the service (another machine), which Twilio asks
    # when the public one fails: `twilio configure` sets it as each number's
    # fallback URL, and signatures over it are accepted.
    fallback_base_url: str | None = None
    source: str = "environment"
    # The dashboard's operator password, as a hash only (see ivr.passwords).
    operator_password_hash: str | None = field(default=None, repr=False)
    session_secret: str | None = field(default=None, repr=False)
    # IVR_HOOK_SECRET_<NAME> settings, by their full name.
    hook_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def local(self) -> bool:
        """No Twilio account at all: the service runs against its own fake."""
        return not (self.auth_token or self.account_sid or self.api_key)

    def signing_tokens(self) -> tuple[str, ...]:
        return tuple(t for t in (self.auth_token, self.auth_token_previous) if t)

    def rest_credentials(self) -> tuple[str, str, str] | None:
        """(username, password, account_sid) for the REST client, or None.

        An API key is preferred because it can be revoked on its own; the
        account pair is the fallback, announced once by the caller."""
        if not self.account_sid:
            return None
        if self.api_key and self.api_secret:
            return self.api_key, self.api_secret, self.account_sid
        if self.auth_token:
            return self.account_sid, self.auth_token, self.account_sid
        return None

    @property
    def uses_account_pair(self) -> bool:
        return not (self.api_key and self.api_secret) and bool(self.account_sid and self.auth_token)

    def values(self) -> tuple[str, ...]:
        """Every secret value, for the log filter that keeps them out of logs."""
        return tuple(v for v in (self.auth_token, self.auth_token_previous, self.api_secret,
                                 self.operator_password_hash, self.session_secret,
                                 *self.hook_secrets.values()) if v)


def read_env_file(path: str | Path) -> dict[str, str]:
    """KEY=VALUE lines, '#' comments, optional 'export ' and quotes.

    Refuses a file that group or others can read: it holds the auth token."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SecretsError(f"{path}: IVR_ENV_FILE names a file that does not exist. "
                           f"Fix: create it or unset IVR_ENV_FILE") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(
            f"{path}: the env file is readable by group or others "
            f"(mode {stat.S_IMODE(mode):o}) and holds secrets. Fix: chmod 600 {path}")
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise SecretsError(f"{path}: the env file is not UTF-8 text. "
                           f"Fix: save it as UTF-8 (KEY=VALUE lines)") from None
    except OSError as exc:
        raise SecretsError(f"{path}: IVR_ENV_FILE cannot be read ({exc.strerror}). "
                           f"Fix: point IVR_ENV_FILE at a readable KEY=VALUE file") from None
    values: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            # The line may hold a secret: name its number, never its text.
            raise SecretsError(f"{path}: line {number} is not KEY=VALUE. "
                               f"Fix: write it as NAME=value")
        if not _known(name) and name not in ENVIRONMENT_ONLY:
            raise SecretsError(_unknown_key(path, number, name))
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


def _known(name: str) -> bool:
    return name in KNOWN_NAMES or _HOOK_SECRET_NAME.fullmatch(name) is not None


def _unknown_key(path: Path, number: int, name: str) -> str:
    """A misspelt key would otherwise be read as a missing one ("TWILIO_AUTH_TOKEN
    is not set"), naming neither the file nor the typo."""
    shown = name if _NAME_LIKE.fullmatch(name) else "the key"
    close = difflib.get_close_matches(name.upper(), KNOWN_NAMES + ENVIRONMENT_ONLY, n=1,
                                      cutoff=0.6)
    hint = f"; did you mean {close[0]}? Fix: rename it to {close[0]}" if close else (
        f". Fix: use one of {', '.join(KNOWN_NAMES)}")
    return f"{path}: line {number}: {shown} is not a setting ivr reads{hint}"


def load_secrets(environ: Mapping[str, str] | None = None) -> Secrets:
    environ = os.environ if environ is None else environ
    merged, source = _merged(environ)
    public = merged.get("IVR_PUBLIC_BASE_URL")
    if public:
        public = _check_url("IVR_PUBLIC_BASE_URL", public)
    fallback = merged.get("IVR_FALLBACK_BASE_URL")
    if fallback:
        fallback = _check_url("IVR_FALLBACK_BASE_URL", fallback)
        if fallback == public:
            raise SecretsError("IVR_FALLBACK_BASE_URL is the same address as IVR_PUBLIC_BASE_URL, "
                               "so Twilio would fall back to the machine that just failed. Fix: "
                               "set it to the second machine's https address, or unset it")
    api_base = _check_url("TWILIO_API_BASE", merged.get("TWILIO_API_BASE") or DEFAULT_API_BASE)

    secrets = Secrets(
        auth_token=merged.get("TWILIO_AUTH_TOKEN") or None,
        auth_token_previous=merged.get("TWILIO_AUTH_TOKEN_PREVIOUS") or None,
        account_sid=merged.get("TWILIO_ACCOUNT_SID") or None,
        api_key=merged.get("TWILIO_API_KEY") or None,
        api_secret=merged.get("TWILIO_API_SECRET") or None,
        api_base=api_base,
        public_base_url=public,
        fallback_base_url=fallback or None,
        source=source,
        operator_password_hash=_operator_hash(merged),
        session_secret=merged.get("IVR_SESSION_SECRET") or None,
        hook_secrets={k: v for k, v in merged.items()
                      if _HOOK_SECRET_NAME.fullmatch(k) and v},
    )
    _check_twilio_settings(secrets)
    return secrets


def _merged(environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The known settings and where they came from. The environment wins over
    the env file, so one variable can be overridden for a single run without
    editing the shared file."""
    merged: dict[str, str] = {}
    source = "environment"
    env_file = environ.get("IVR_ENV_FILE")
    if env_file:
        from_file = read_env_file(env_file)
        for name in ENVIRONMENT_ONLY:
            # Fine where the file is also the service's environment (systemd's
            # EnvironmentFile=); otherwise the line would be silently ignored.
            if name in from_file and environ.get(name) != from_file[name]:
                raise SecretsError(
                    f"{env_file}: {name} is read from the environment, not from the env file, "
                    f"so this line has no effect. Fix: set {name} in the service's environment "
                    f"and remove the line")
        merged.update({k: v for k, v in from_file.items() if _known(k)})
        source = f"environment and {env_file}"
    merged.update({k: v for k, v in environ.items() if _known(k) and v})
    return merged, source


def _check_twilio_settings(secrets: Secrets) -> None:
    """The Twilio settings that only work together, and the SIDs' shapes."""
    if secrets.api_key and not secrets.api_secret:
        raise SecretsError("TWILIO_API_KEY is set without TWILIO_API_SECRET. "
                           "Fix: set both, or neither to use the account SID and auth token")
    if (secrets.api_key or secrets.account_sid) and not secrets.auth_token:
        raise SecretsError("TWILIO_AUTH_TOKEN is not set, so Twilio's webhook signatures "
                           "cannot be checked. Fix: set it to the account's auth token")
    if secrets.auth_token and not secrets.account_sid:
        raise SecretsError("TWILIO_ACCOUNT_SID is not set, so nothing can be sent. "
                           "Fix: set it to the Account SID from the Twilio console "
                           "(or unset every TWILIO_ variable to run in local mode)")
    if secrets.account_sid and not secrets.account_sid.startswith("AC"):
        raise SecretsError("TWILIO_ACCOUNT_SID does not start with 'AC'. "
                           "Fix: copy the Account SID from the Twilio console")
    if secrets.api_key and not secrets.api_key.startswith("SK"):
        raise SecretsError("TWILIO_API_KEY does not start with 'SK'. "
                           "Fix: use the API key's SID, not its friendly name")


def _operator_hash(merged: Mapping[str, str]) -> str | None:
    """The password is hashed here and the plain text goes no further."""
    encoded = merged.get("IVR_OPERATOR_PASSWORD_HASH")
    if encoded:
        if not valid_hash(encoded):
            raise SecretsError("IVR_OPERATOR_PASSWORD_HASH is not a hash made by "
                               "`ivr hash-password`. Fix: run it and paste its output")
        return encoded
    password = merged.get("IVR_OPERATOR_PASSWORD")
    if not password:
        return None
    if len(password) < 10:
        raise SecretsError("IVR_OPERATOR_PASSWORD is shorter than 10 characters. "
                           "Fix: choose a longer one")
    return hash_password(password)


def _check_url(name: str, value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SecretsError(f"{name} must be an http(s) URL such as https://ivr.example.com. "
                           f"Fix: set it to the address Twilio reaches")
    if parsed.query or parsed.fragment:
        raise SecretsError(f"{name} must not carry a query or fragment. "
                           f"Fix: set only scheme, host and optional path")
    return value.rstrip("/")

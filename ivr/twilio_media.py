"""Which stored URLs the dashboard may fetch from Twilio for an operator:
an MMS's media or a voicemail's recording, of this account, on Twilio's
API host, and nothing else. The fetch sends the account's credentials
(Twilio requires them once "HTTP auth on media URLs" is on), so a URL
that is not exactly one of these is never fetched: the proxy must not be
a way to send them anywhere, or to read anything else of the account. Pure."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

API_HOST = "api.twilio.com"
_SID = r"[0-9a-fA-F]{32}"
_MEDIA = re.compile(rf"/2010-04-01/Accounts/(AC{_SID})/Messages/(MM|SM){_SID}/Media/ME{_SID}")
_RECORDING = re.compile(rf"/2010-04-01/Accounts/(AC{_SID})/Recordings/RE{_SID}")
RECORDING_FORMAT = ".mp3"   # without it Twilio answers WAV, several times the size

# What a browser is given to show inline; anything else is a download.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp",
                          "audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav",
                          "audio/ogg", "video/mp4", "video/3gpp"})
IMAGE_TYPES = frozenset(t for t in INLINE_TYPES if t.startswith("image/"))


def _path(url: str, pattern: re.Pattern[str], account_sid: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname != API_HOST or parts.port not in (None, 443):
        return None
    if parts.username or parts.password or parts.query or parts.fragment:
        return None
    path = parts.path.removesuffix(".json")
    found = pattern.fullmatch(path)
    if found is None or found.group(1) != account_sid:
        return None
    return path


def media_path(url: str, account_sid: str) -> str | None:
    """The API path of an MMS media item of this account, or None."""
    return _path(url, _MEDIA, account_sid)


def recording_path(url: str, account_sid: str) -> str | None:
    """The API path of a recording of this account, as MP3, or None."""
    path = _path(url.removesuffix(".mp3").removesuffix(".wav"), _RECORDING, account_sid)
    return path + RECORDING_FORMAT if path else None


def shown_type(content_type: str | None) -> tuple[str, bool]:
    """The Content-Type to answer with, and whether it may be shown inline."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in INLINE_TYPES:
        return kind, True
    return "application/octet-stream", False

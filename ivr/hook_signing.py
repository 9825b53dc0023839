"""Signing of what ivr POSTs to the business's own systems (event hooks and
keyword auto-replies), so a receiver can tell the request came from this
line and is fresh.

The signature is HMAC-SHA256, keyed with the hook's secret, over
"<timestamp>.<body>": the timestamp (Unix seconds, also sent in its own
header) is inside what is signed, so a captured request cannot be replayed
later with a new timestamp. Receivers recompute it over the raw body bytes,
compare in constant time, and refuse a timestamp older than five minutes."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Ivr-Timestamp"
SIGNATURE_HEADER = "X-Ivr-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(secret: str, headers: dict[str, str], body: bytes, now: int) -> bool:
    """What a receiver does; tests use it as the documented steps."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, ""))

"""The operator's password, kept only as a scrypt hash (stdlib hashlib)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

# scrypt's cost: about 50 ms here, which slows guessing without slowing a login.
N, R, P = 2**14, 8, 1
PREFIX = "scrypt"


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=32)
    encode = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"{PREFIX}${N}${R}${P}${encode(salt)}${encode(digest)}"


def valid_hash(encoded: str) -> bool:
    parts = encoded.split("$")
    return len(parts) == 6 and parts[0] == PREFIX and all(p.isdigit() for p in parts[1:4])


def verify_password(password: str, encoded: str) -> bool:
    if not valid_hash(encoded):
        return False
    _, n, r, p, salt, digest = encoded.split("$")
    try:
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)

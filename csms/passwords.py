"""Station passwords: stored only as salted scrypt hashes; verified in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt cost (N=2**14, r=8, p=1): ~16 MiB and tens of ms per verification, which is why
#: the gateway verifies in a worker thread and remembers a successful check.
_N, _R, _P = 2**14, 8, 1
_PREFIX = "scrypt"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encode = base64.b64encode
    return f"{_PREFIX}${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if prefix != _PREFIX:
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


def check_password_strength(password: str) -> None:
    """OCPP's BasicAuthPassword is a passwordString of 16 to 40 characters."""
    if not 16 <= len(password) <= 40:
        raise ValueError("password must be 16 to 40 characters (OCPP BasicAuthPassword)")

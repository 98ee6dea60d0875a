"""Station passwords: stored only as salted, versioned hashes; verified in constant time.

The current scheme is PBKDF2-HMAC-SHA256 with a cost sized for what OCPP stations use:
16 to 40 random characters (README, "Station passwords"). Hashes of an older scheme (scrypt
at N=2**14) still verify; `needs_rehash` tells the caller to store the current form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: PBKDF2 iterations: ~0.2 ms per verification, so a reconnect storm of 10,000 stations
#: costs ~2 s of CPU; a thief still pays 2**10 SHA-256 blocks per guess of a >= 95-bit secret.
ITERATIONS = 500
_CURRENT = "pbkdf2-sha256"
_LEGACY_SCRYPT = "scrypt"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    encode = base64.b64encode
    return f"{_CURRENT}${ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    try:
        if scheme == _CURRENT:
            iterations, salt, digest = rest.split("$")
            expected = base64.b64decode(digest)
            actual = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), base64.b64decode(salt), int(iterations)
            )
        elif scheme == _LEGACY_SCRYPT:
            n, r, p, salt, digest = rest.split("$")
            expected = base64.b64decode(digest)
            actual = hashlib.scrypt(
                password.encode(),
                salt=base64.b64decode(salt),
                n=int(n),
                r=int(r),
                p=int(p),
                dklen=len(expected),
            )
        else:
            return False
    except ValueError:  # a malformed stored hash (binascii.Error is a ValueError)
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """True for a hash of an older scheme or cost: verify it once, then store `hash_password`."""
    return not stored.startswith(f"{_CURRENT}${ITERATIONS}$")


def is_slow_to_verify(stored: str) -> bool:
    """Legacy scrypt hashes take tens of ms: verify those off the event loop."""
    return stored.startswith(f"{_LEGACY_SCRYPT}$")


def check_password_strength(password: str) -> None:
    """OCPP's BasicAuthPassword is a passwordString of 16 to 40 characters."""
    if not 16 <= len(password) <= 40:
        raise ValueError("password must be 16 to 40 characters (OCPP BasicAuthPassword)")

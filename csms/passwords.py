"""Station passwords: stored only as salted, versioned hashes; verified in constant time.

The current scheme is PBKDF2-HMAC-SHA256 with a cost sized per password: a random one
(16-40 characters, as `generate_password` makes) is cheap to check at a reconnect storm and
still infeasible to guess; a chosen one gets a cost that makes up for how guessable it is
(zxcvbn's estimate), up to a bound, and past that bound it is refused (README, "Station
passwords"). Hashes of an older scheme (scrypt at N=2**14) still verify; `needs_rehash`
tells the caller to store the current form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets

#: PBKDF2 iterations for a random password: ~0.2 ms per verification, so a reconnect storm
#: of 10,000 stations costs ~2 s of CPU; a thief pays 2**10 SHA-256 blocks per guess.
ITERATIONS = 500
#: Most iterations given to a chosen password: ~20 ms per verification (in a worker thread).
MAX_ITERATIONS = 50_000
#: SHA-256 blocks a thief must spend to exhaust a password's guesses (estimated guesses x 2
#: blocks per iteration x iterations): ~30 GPU-years at 10**10 blocks/s. A password of
#: >= 10**16 guesses reaches it at ITERATIONS; one of 10**14 needs MAX_ITERATIONS.
WORK_FACTOR = 10**19
#: Characters of a generated password (OCPP's passwordString allows up to 40).
GENERATED_LENGTH = 40
_CURRENT = "pbkdf2-sha256"
_LEGACY_SCRYPT = "scrypt"


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    """The stored form; `iterations` from `check_password_strength` for a chosen password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    encode = base64.b64encode
    return f"{_CURRENT}${iterations}${encode(salt).decode()}${encode(digest).decode()}"


def generate_password() -> str:
    """40 random URL-safe characters (~240 bits): what rotation sends to a station."""
    return secrets.token_urlsafe(GENERATED_LENGTH)[:GENERATED_LENGTH]


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


def _iterations(stored: str) -> int | None:
    scheme, _, rest = stored.partition("$")
    if scheme != _CURRENT:
        return None
    try:
        return int(rest.split("$")[0])
    except ValueError:
        return None


def needs_rehash(stored: str) -> bool:
    """True for a hash of an older scheme or a cost below today's least: verify it once,
    then store `hash_password` (with the password's own cost when it was chosen)."""
    iterations = _iterations(stored)
    return iterations is None or iterations < ITERATIONS


def is_slow_to_verify(stored: str) -> bool:
    """Legacy scrypt hashes and chosen passwords' costly ones take milliseconds: verify
    those off the event loop."""
    iterations = _iterations(stored)
    return stored.startswith(f"{_LEGACY_SCRYPT}$") or (iterations or 0) > 4 * ITERATIONS


def _guesses(password: str) -> float:
    """zxcvbn's estimate of the guesses needed: ~5 ms at 16 characters, ~40 ms at 40."""
    from zxcvbn import zxcvbn  # imported on first use: it loads its word lists (~0.3 s)

    return float(zxcvbn(password)["guesses"])


def check_password_strength(password: str) -> int:
    """The PBKDF2 iterations this password needs; ValueError when it is not 16 to 40
    characters (OCPP's BasicAuthPassword) or too guessable for MAX_ITERATIONS to make up."""
    if not 16 <= len(password) <= 40:
        raise ValueError("password must be 16 to 40 characters (OCPP BasicAuthPassword)")
    guesses = _guesses(password)
    needed = WORK_FACTOR / (2 * guesses)
    if needed > MAX_ITERATIONS:
        raise ValueError(
            f"password too guessable (about 10^{len(str(int(guesses))) - 1} guesses): "
            "use a random one, e.g. from `stations add --generate-password`"
        )
    return max(ITERATIONS, math.ceil(needed))


def iterations_for(password: str) -> int:
    """The cost for rehashing a password already in use: its own, or the most for one
    that today's rule would refuse (it keeps working; the operator should rotate it)."""
    try:
        return check_password_strength(password)
    except ValueError:
        return MAX_ITERATIONS

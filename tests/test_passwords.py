"""Station password hashes: the current scheme, the legacy scrypt one, malformed input."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.passwords import (
    ITERATIONS,
    MAX_ITERATIONS,
    check_password_strength,
    generate_password,
    hash_password,
    is_slow_to_verify,
    needs_rehash,
    verify_password,
)

PASSWORD = "correct-horse-battery"


def test_a_hash_verifies_its_password_only_and_is_salted() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("pbkdf2-sha256$500$") and PASSWORD not in stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "x", stored)
    assert hash_password(PASSWORD) != stored
    assert not needs_rehash(stored) and not is_slow_to_verify(stored)


def test_a_legacy_scrypt_hash_verifies_and_asks_for_a_rehash() -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    stored = f"scrypt$16384$8$1${b64(salt).decode()}${b64(digest).decode()}"
    assert verify_password(PASSWORD, stored)
    assert not verify_password("wrong-password-123456", stored)
    assert needs_rehash(stored) and is_slow_to_verify(stored)


def test_a_lower_iteration_count_asks_for_a_rehash() -> None:
    stored = hash_password(PASSWORD).replace("$500$", "$100$", 1)
    assert needs_rehash(stored)


@settings(max_examples=200)
@given(st.text(max_size=120))
def test_a_malformed_stored_hash_never_verifies_nor_raises(stored: str) -> None:
    assert not verify_password(PASSWORD, stored)
    for prefix in ("pbkdf2-sha256$", "scrypt$"):
        assert not verify_password(PASSWORD, prefix + stored)


@pytest.mark.parametrize(
    "weak", ["aaaaaaaaaaaaaaaa", "1234567890123456", "password12345678", "qwertyuiopasdfgh"]
)
def test_a_guessable_password_is_refused_even_at_16_characters(weak: str) -> None:
    with pytest.raises(ValueError, match="too guessable"):
        check_password_strength(weak)


def test_the_length_bounds_of_ocpp_still_apply() -> None:
    for wrong in ("Xq7#vL2p", generate_password() + "x"):
        with pytest.raises(ValueError, match="16 to 40"):
            check_password_strength(wrong)


def test_a_chosen_password_costs_more_to_check_than_a_random_one() -> None:
    chosen = check_password_strength(PASSWORD)
    random = check_password_strength(generate_password())
    assert random == ITERATIONS
    assert ITERATIONS < chosen <= MAX_ITERATIONS
    stored = hash_password(PASSWORD, chosen)
    assert stored.startswith(f"pbkdf2-sha256${chosen}$") and verify_password(PASSWORD, stored)
    # Dear hashes are checked in a worker thread, and are never "upgraded" to a cheaper cost.
    assert is_slow_to_verify(stored) and not needs_rehash(stored)


def test_a_generated_password_is_40_url_safe_characters_and_never_repeats() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 40 and p.replace("-", "").replace("_", "").isalnum() for p in passwords)

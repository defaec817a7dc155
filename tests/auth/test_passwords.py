"""What counts as an acceptable password, the error naming the limit when it is not, and the decoy hash."""

from __future__ import annotations

import argon2
import pytest

from soma import errors
from soma.auth import passwords


def test_a_short_password_is_weak_and_a_huge_one_too_long() -> None:
    with pytest.raises(errors.WeakPassword) as short:
        passwords.check_acceptable("x" * 9)
    with pytest.raises(errors.PasswordTooLong) as huge:
        passwords.check_acceptable("x" * 1025)

    assert (short.value.code, short.value.message) == (
        "weak_password", "The password has 9 characters; at least 10 are needed. Choose a longer password."
    )
    assert (huge.value.code, huge.value.message) == (
        "password_too_long", "The password has more than 1024 characters. Choose a shorter password."
    )
    passwords.check_acceptable("x" * 10)
    passwords.check_acceptable("x" * 1024)


def test_the_decoy_hash_costs_what_a_stored_hash_costs_so_a_missing_user_takes_as_long() -> None:
    stored = passwords.hash_password("a long enough password")

    assert argon2.extract_parameters(passwords.DECOY) == argon2.extract_parameters(stored)
    assert passwords.verify(None, "a long enough password") is False
    assert passwords.verify(stored, "a long enough password") is True

"""What counts as an acceptable password, and the error naming the limit when it is not."""

from __future__ import annotations

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

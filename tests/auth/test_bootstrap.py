"""The bootstrap admin key is read and judged in one place, naming the setting that holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma import config, errors
from soma.auth import bootstrap

FIX = (
    "Put a long random key (e.g. from `openssl rand -hex 32`) in SOMA_BOOTSTRAP_ADMIN_KEY or in the file "
    "SOMA_BOOTSTRAP_ADMIN_KEY_FILE names, or unset both; docs/security.md explains the bootstrap key."
)


def _settings(**values: object) -> config.Settings:
    return config.Settings(_env_file=None, **{"bootstrap_admin_key": None, "bootstrap_admin_key_file": None, **values})


def test_a_key_of_32_characters_is_used_and_no_key_is_none(tmp_path: Path) -> None:
    key_file = tmp_path / "admin-key"
    key_file.write_text("k" * 32 + "\n")

    assert bootstrap.configured_key(_settings(bootstrap_admin_key=" " + "k" * 32 + " ")) == "k" * 32
    assert bootstrap.configured_key(_settings(bootstrap_admin_key_file=key_file)) == "k" * 32
    assert bootstrap.configured_key(_settings()) is None


def test_a_short_key_is_refused_naming_where_it_came_from(tmp_path: Path) -> None:
    key_file = tmp_path / "admin-key"
    key_file.write_text("short\n")

    with pytest.raises(errors.BootstrapKeyInvalid) as from_value:
        bootstrap.check(_settings(bootstrap_admin_key="k" * 31))
    with pytest.raises(errors.BootstrapKeyInvalid) as from_file:
        bootstrap.check(_settings(bootstrap_admin_key_file=key_file))

    assert from_value.value.message == f"SOMA_BOOTSTRAP_ADMIN_KEY holds 31 characters; the key needs at least 32. {FIX}"
    assert from_file.value.message == f"SOMA_BOOTSTRAP_ADMIN_KEY_FILE {key_file} holds 5 characters; the key needs at least 32. {FIX}"


def test_an_unreadable_key_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent"

    with pytest.raises(errors.BootstrapKeyInvalid) as refused:
        bootstrap.check(_settings(bootstrap_admin_key_file=missing))

    assert refused.value.message == f"Cannot read SOMA_BOOTSTRAP_ADMIN_KEY_FILE {missing} (No such file or directory). {FIX}"

"""Docs that cannot drift: every SOMA_* setting is in README.md's settings table and in some `soma … --help`."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

from soma import config
from soma.cli import app

README = Path(__file__).parent.parent / "README.md"
NAME = re.compile(r"SOMA_[A-Z0-9_]*[A-Z0-9]")


def _settings() -> set[str]:
    """What each field of config.Settings is called in the environment."""
    return {config.ENV_PREFIX + field.upper() for field in config.Settings.model_fields}


def _readme_table() -> set[str]:
    """The variables the README's settings table names in its first column."""
    lines = README.read_text().splitlines()
    start = lines.index("| variable | default | meaning |") + 2  # after the header and its --- row
    rows = itertools.takewhile(lambda line: line.startswith("|"), lines[start:])
    return {name for row in rows for name in NAME.findall(row.split("|")[1])}


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """`soma` itself and every command under it, as the words that name them."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():  # a group (typer bundles its own click)
        found += _commands(sub, (*path, name))
    return found


def _help_texts() -> dict[str, str]:
    """Each command's `--help` output, keyed by the command line."""
    runner = CliRunner()
    texts = {}
    for path in _commands(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        texts[" ".join(("soma", *path))] = result.output
    return texts


def test_every_setting_is_in_the_readme_settings_table() -> None:
    assert sorted(_settings() - _readme_table()) == []


def test_the_readme_settings_table_names_only_real_settings() -> None:
    assert sorted(_readme_table() - _settings()) == []


def test_every_setting_is_named_by_the_help_of_a_command_that_reads_it() -> None:
    named = {name for text in _help_texts().values() for name in NAME.findall(text)}

    assert sorted(_settings() - named) == []


def test_every_name_in_the_help_texts_is_a_setting() -> None:
    unknown = {command: sorted(set(NAME.findall(text)) - _settings()) for command, text in _help_texts().items()}

    assert {command: names for command, names in unknown.items() if names} == {}

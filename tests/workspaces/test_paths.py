"""A chat's file names: one canonical relative form, and a clear refusal for anything that could leave the workspace or deceive."""

from __future__ import annotations

import pytest

from soma import errors
from soma.workspaces import paths

HOSTILE = {
    "../../x": "The path '../../x' has a '..' part.",
    "a/../../x": "The path 'a/../../x' has a '..' part.",
    "..": "The path '..' has a '..' part.",
    "./a": "The path './a' has a '.' part.",
    "/etc/shadow": "The path '/etc/shadow' starts with /: give it relative to the chat's files.",
    "a//b": "The path 'a//b' has an empty part (// or a / at its end).",
    "a/": "The path 'a/' has an empty part (// or a / at its end).",
    "": "The path '' is empty.",
    "a\x00b": "The path 'a\\x00b' holds a control character.",
    "report\n.csv": "The path 'report\\n.csv' holds a control character.",
    "\x1b[31mred": "The path '\\x1b[31mred' holds a control character.",
    "a\x7f": "The path 'a\\x7f' holds a control character.",
    "\u202egnp.exe": "The path '\\u202egnp.exe' holds a control character.",
    "a\ud800": "The path 'a\\ud800' holds a character with no UTF-8 form.",
    "x" * 256: f"The path {'x' * 80!r}… has a part of 256 bytes; at most 255 are allowed.",
    "é" * 128: f"The path {'é' * 80!r}… has a part of 256 bytes; at most 255 are allowed.",
    "/".join(["y" * 200] * 6): f"The path {'y' * 80!r}… has 1205 bytes; at most 1024 are allowed.",
}


@pytest.mark.parametrize("path", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_path_is_refused_with_a_message_naming_it_and_the_rule(path: str) -> None:
    with pytest.raises(errors.InvalidPath) as refused:
        paths.clean(path)

    assert refused.value.detail == HOSTILE[path]
    assert refused.value.message.startswith(HOSTILE[path] + " A file of a chat is named by a relative path")
    assert (refused.value.status_code, refused.value.code) == (422, "invalid_path")


@pytest.mark.parametrize(
    "path", ["data.csv", "out/chart.png", "a b/c d.txt", "..hidden", "a..b", ".env", "数据/表.csv", "x" * 255, "/".join(["y" * 200] * 5)]
)
def test_a_valid_path_comes_back_unchanged(path: str) -> None:
    assert paths.clean(path) == path


def test_the_name_of_a_path_is_its_last_part() -> None:
    assert (paths.name("out/charts/sales.png"), paths.name("data.csv")) == ("sales.png", "data.csv")

"""Previewing Agent Zero backups: both layouts, `soma backup inspect`, and hostile or broken zips."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soma import cli, errors
from soma.agent_zero import pickle_reader, preview
from tests import agent_zero_backup as a0

CAPITALS = {
    "name": "Capitals", "created_at": "2025-11-01T08:00:00", "messages": 4,
    "first_exchange": {"user": "What is the capital of France?", "assistant": "Paris."},
}  # fmt: skip
NOTES = {
    "name": "Notes", "created_at": "2025-11-01T08:00:00", "messages": 3,
    "first_exchange": {"user": "Summarise my notes", "assistant": "Done."},
}  # fmt: skip
COUNTS = {"sessions": 2, "messages": 7, "memories": 3, "documents": 2}  # in Soma's words, as a Soma backup's manifest
MAPPED = [
    {"key": "slm_model", "value": "gpt-4.1", "from": "usr/settings.json: chat_model_name"},
    {"key": "temperature", "value": 0.2, "from": "usr/settings.json: chat_model_kwargs.temperature"},
    {"key": "system_prompt", "value": "You are Agent Zero, a careful assistant.", "from": "usr/agents/agent0/prompts/agent.system.main.role.md"},
]


def test_a_1_7_backup_previews_chats_memories_knowledge_settings_and_what_is_dropped(tmp_path: Path) -> None:
    found = preview.preview(a0.to_bytes(a0.write(tmp_path / "a0.zip")))
    assert found == {
        "format": "agent-zero",
        "agent_zero_version": "M v1.7",
        "timestamp": "2025-11-02T10:15:00.123456",
        "backup_name": "agent-zero-backup-2025-11-02",
        "layout": "0.9.8+",
        "counts": COUNTS,
        "chats": [CAPITALS, NOTES],
        "memory_areas": {"main": 1, "fragments": 1, "solutions": 1},
        "knowledge_files": ["usr/knowledge/main/handbook.md", "usr/knowledge/fragments/notes.txt"],
        "settings": MAPPED,
        "dropped": [
            {"what": "2 tool calls and results in chats", "why": "steps of Agent Zero's tool loop: Soma keeps the questions and answers"},
            {"what": "3 chat log entries", "why": "tool and progress logs: Soma keeps only the messages"},
            {"what": "1 files in scheduler/", "why": "scheduled tasks: Soma has no task scheduler"},
            {"what": "1 files in projects/", "why": "projects: Soma has no projects; their files stay in Agent Zero"},
            {"what": "1 files in skills/", "why": "skills: Soma does not run Agent Zero's skills"},
            {"what": "2 memory index files (vectors, embedding settings)", "why": "Soma embeds the memories again with its own model"},
            {"what": "2 other settings (chat_model_provider, rfc_port_http)", "why": "no Soma equivalent"},
            {"what": "usr/.env, usr/secrets.env", "why": "secrets are never imported: enter keys in Soma's vault"},
        ],
        "skipped": [{"what": "usr/knowledge/solutions/photo.png", "why": "not a knowledge file Soma reads (md, txt, pdf, csv, html, json)"}],
        "secrets_not_imported": [
            {"file": "usr/.env", "keys": ["API_KEY_OPENAI", "AUTH_LOGIN", "AUTH_PASSWORD"]},
            {"file": "usr/secrets.env", "keys": ["GITHUB_TOKEN"]},
        ],
    }
    assert "sk-secret" not in json.dumps(found) and "hunter2" not in json.dumps(found)


def test_a_0_9_7_backup_is_read_from_tmp_memory_and_knowledge_custom(tmp_path: Path) -> None:
    found = preview.preview(a0.to_bytes(a0.write(tmp_path / "a0.zip", version="v0.9.7")))
    assert found["layout"] == "0.9.4-0.9.7"
    assert found["counts"] == COUNTS
    assert found["chats"] == [CAPITALS, NOTES]
    assert found["knowledge_files"] == ["knowledge/custom/main/handbook.md", "knowledge/custom/fragments/notes.txt"]
    assert found["settings"] == [{**m, "from": m["from"].replace("usr/", "tmp/")} for m in MAPPED[:2]]
    assert found["secrets_not_imported"] == [{"file": ".env", "keys": ["API_KEY_OPENAI", "AUTH_LOGIN", "AUTH_PASSWORD"]}]


def test_a_summarised_topic_keeps_its_summary_when_its_messages_are_gone(tmp_path: Path) -> None:
    from soma.agent_zero import chats

    found = chats.parse(a0.chat("c2", "Notes", a0.history([], [(False, "Hi"), (True, "Hello")], summarised="We planned a trip.")), "c2")
    assert found.messages == [("summary", "We planned a trip."), ("user", "Hi"), ("assistant", "Hello")]


def test_soma_backup_inspect_json_shows_format_version_and_counts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["backup", "inspect", str(a0.write(tmp_path / "a0.zip")), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["format"], body["agent_zero_version"]) == ("agent-zero", "M v1.7")
    assert body["counts"] == COUNTS


def test_soma_backup_inspect_json_counts_a_soma_backup_and_an_agent_zero_zip_in_the_same_words(tmp_path: Path) -> None:
    soma_backup = sorted((Path(__file__).parent.parent / "backup" / "fixtures").glob("backup-*.tar"))[-1]
    counts = {}
    for archive in (soma_backup, a0.write(tmp_path / "a0.zip")):
        result = CliRunner().invoke(cli.app, ["backup", "inspect", str(archive), "--json"])
        assert result.exit_code == 0, result.output
        counts[archive.suffix] = json.loads(result.stdout)["counts"]
    assert set(COUNTS) <= set(counts[".tar"])
    assert counts[".zip"] == COUNTS


def test_soma_backup_inspect_prints_the_preview_for_people(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["backup", "inspect", str(a0.write(tmp_path / "a0.zip"))])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "format:          agent-zero (0.9.8+ layout)",
        "agent zero:      M v1.7",
        "made at:         2025-11-02T10:15:00.123456",
        "brings:          2 chats (7 messages), 3 memories, 2 knowledge files",
        "  chat 'Capitals': What is the capital of France? -> Paris.",
    ]
    assert "not imported:    usr/.env holds API_KEY_OPENAI, AUTH_LOGIN, AUTH_PASSWORD (values not shown)" in lines


HOSTILE = {
    "traversal": ({"a0/usr/../../etc/cron.d/x": b"x"}, "Entry 'a0/usr/../../etc/cron.d/x' climbs out of its folder with '..'."),
    "absolute": ({"/etc/passwd": b"root"}, "Entry '/etc/passwd' has an absolute path."),
    "bomb": ({"a0/usr/knowledge/main/big.txt": b"\0" * (20 << 20)}, "(over 100 times): a zip bomb."),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_zip_is_refused_naming_the_entry(case: str, tmp_path: Path) -> None:
    raw, expected = HOSTILE[case]
    path = a0.write(tmp_path / "a0.zip")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        for name, data in raw.items():
            info = zipfile.ZipInfo("x")
            info.filename = name  # ZipInfo() would strip the leading / and keep nothing hostile
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    with pytest.raises(errors.AgentZeroArchiveRefused) as caught:
        preview.preview(a0.to_bytes(path))
    assert expected in caught.value.message


def test_a_symlink_entry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.AgentZeroArchiveRefused) as caught:
        preview.preview(a0.to_bytes(a0.with_symlink(tmp_path / "a0.zip")))
    assert caught.value.message.startswith("Entry 'a0/usr/knowledge/main/passwd.md' is a symbolic link. This Agent Zero backup")


def test_a_truncated_zip_is_refused_as_broken_by_the_cli(tmp_path: Path) -> None:
    path = a0.write(tmp_path / "a0.zip")
    path.write_bytes(path.read_bytes()[:-100])
    result = CliRunner().invoke(cli.app, ["backup", "inspect", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: The zip's directory cannot be read (")
    assert "Download or copy it again from Agent Zero" in result.stderr


def test_inspect_of_a_missing_file_names_it_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["backup", "inspect", str(tmp_path / "gone.zip")])
    assert (result.exit_code, result.stderr.splitlines()[0]) == (1, f"error: Cannot read {tmp_path / 'gone.zip'} (No such file or directory). "
                                                                    "Check the path and its permissions (and the free space where a backup is written), then run the command again.")  # fmt: skip


def test_a_zip_without_metadata_is_not_a_backup(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(errors.NotABackup):
        preview.preview(a0.to_bytes(tmp_path / "x.zip"))


def test_a_malicious_pickle_is_refused_naming_the_global_and_never_run(tmp_path: Path) -> None:
    evil = pickle.dumps(a0.Evil())
    with pytest.raises(errors.AgentZeroPickleRefused) as caught:
        pickle_reader.read_index(evil)
    assert caught.value.message.startswith(f"index.pkl names {a0.Evil().__reduce__()[0].__module__}.system, which is not part")
    entries = {**a0.files("M v1.7"), "/a0/usr/memory/default/index.pkl": evil}
    found = preview.preview(a0.to_bytes(a0.write(tmp_path / "a0.zip", entries=entries)))
    assert found["counts"]["memories"] == 0
    skipped = {s["what"]: s["why"] for s in found["skipped"]}
    assert skipped["usr/memory/default/index.pkl"].startswith("index.pkl names ")


@pytest.mark.parametrize("protocol", [2, 5])
def test_index_pkl_reads_as_plain_memories_under_old_and_new_protocols(protocol: int) -> None:
    memories = pickle_reader.read_index(a0.index_pkl([("main", "User lives in Lyon")], protocol=protocol))
    assert memories == [{"id": "id0", "text": "User lives in Lyon",
                         "metadata": {"id": "id0", "timestamp": "2025-11-01 08:00:00", "area": "main"}}]  # fmt: skip


def test_a_malformed_chat_is_skipped_with_its_reason(tmp_path: Path) -> None:
    entries = {**a0.files("M v1.7"), "/a0/usr/chats/c3/chat.json": b'{"id": "c3", "agents": [{"number": 0, "history": "{oops"}]}'}
    found = preview.preview(a0.to_bytes(a0.write(tmp_path / "a0.zip", entries=entries)))
    assert found["counts"]["sessions"] == 2
    assert found["skipped"][-1]["what"] == "usr/chats/c3/chat.json"
    assert found["skipped"][-1]["why"].startswith("malformed chat.json: history is not JSON (")

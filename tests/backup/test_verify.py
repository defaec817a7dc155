"""`soma backup verify` and `inspect`: a good archive passes with exact output; every hostile one is refused in one line."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from soma import errors
from tests.backup.conftest import Installed, build, entries_of, make_archive, soma_bytes
from tests.procs import run_soma, soma_env

MANIFEST, SETTINGS, CHECKSUMS = "soma-backup/manifest.json", "soma-backup/settings.json", "soma-backup/checksums.json"


def _verify(env: dict[str, str], archive: bytes, tmp_path: Path):
    path = tmp_path / "suspect.tar"
    path.write_bytes(archive)
    return run_soma(env, "backup", "verify", str(path))


def _refused(done, error: errors.SomaError) -> None:
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: {error.message}\n")


async def test_verify_and_inspect_accept_a_backup_with_exact_output(installed: Installed, tmp_path: Path) -> None:
    archive = await make_archive(installed.database_url)
    manifest = json.loads(dict(entries_of(archive))[MANIFEST])
    env = soma_env(installed.database_url)
    done = _verify(env, archive, tmp_path)
    counts = "1 sessions, 2 messages, 2 events, 2 memories, 1 documents, 2 chunks, 1 blobs"
    line = f"ok: {len(archive)} bytes, made {manifest['created_at']} by Soma 0.1.0 (format 1, schema 0005); {counts}\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, line, "")
    from_stdin = soma_bytes(env, "backup", "verify", "-", stdin=archive)
    assert (from_stdin.returncode, from_stdin.stdout.decode()) == (0, line)
    inspected = run_soma(env, "backup", "inspect", str(tmp_path / "suspect.tar"), "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout) == {**manifest, "size_bytes": len(archive)}
    text = run_soma(env, "backup", "inspect", str(tmp_path / "suspect.tar"))
    assert text.stdout.splitlines()[:3] == ["format:          soma-backup 1", f"created at:      {manifest['created_at']}", "soma version:    0.1.0"]


def _with(entries: list[tuple[str, bytes]], name: str, change) -> list[tuple[str, bytes]]:
    return [(n, change(d) if n == name else d) for n, d in entries]


def _manifest_with(**changes):
    return lambda data: json.dumps({**json.loads(data), **changes}).encode()


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def _hostile(case: str, entries: list[tuple[str, bytes]], archive: bytes, sha256: str) -> tuple[bytes, errors.SomaError]:
    """One hostile archive, built from a valid one, and the error it must get."""
    blob = f"soma-backup/blobs/{sha256}"
    head, tail = entries[:1], entries[1:]
    settings_size = len(dict(entries)[SETTINGS])
    match case:
        case "path traversal":
            return build(head + [("soma-backup/../../etc/cron.d/evil", b"x")] + tail), errors.BackupEntryUnsafe(
                "The entry 'soma-backup/../../etc/cron.d/evil' points outside soma-backup/.")
        case "absolute path":
            return build(head + [("/etc/passwd", b"x")] + tail), errors.BackupEntryUnsafe("The entry '/etc/passwd' points outside soma-backup/.")
        case "symlink":
            return build(head, [_special("soma-backup/settings.json", tarfile.SYMTYPE, "/etc/shadow")]), errors.BackupEntryUnsafe(
                "The entry 'soma-backup/settings.json' is a symbolic link.")
        case "hard link":
            return build(head, [_special("soma-backup/settings.json", tarfile.LNKTYPE, MANIFEST)]), errors.BackupEntryUnsafe(
                "The entry 'soma-backup/settings.json' is a hard link.")
        case "device":
            return build(head, [_special("soma-backup/settings.json", tarfile.CHRTYPE)]), errors.BackupEntryUnsafe(
                "The entry 'soma-backup/settings.json' is a character device.")
        case "fifo":
            return build(head, [_special("soma-backup/settings.json", tarfile.FIFOTYPE)]), errors.BackupEntryUnsafe(
                "The entry 'soma-backup/settings.json' is a FIFO.")
        case "duplicate entry":
            return build(head + tail[:1] + tail), errors.BackupEntryUnexpected(f"The entry '{SETTINGS}' occurs twice.")
        case "unknown entry":
            return build(head + [("soma-backup/users/000001.jsonl", b"{}\n")] + tail), errors.BackupEntryUnexpected(
                "The entry 'soma-backup/users/000001.jsonl' is not one a Soma backup holds.")
        case "entry larger than checksums say":
            return build(_with(entries, SETTINGS, lambda d: d + b" "), checksums=False), errors.BackupChecksumMismatch(
                f"{SETTINGS} has {settings_size + 1} bytes, but {CHECKSUMS} says {settings_size}.")
        case "bad checksum":
            altered = _with(entries, SETTINGS, lambda d: d.replace(b"0.25", b"0.95"))
            digest = hashlib.sha256(dict(altered)[SETTINGS]).hexdigest()
            expected = hashlib.sha256(dict(entries)[SETTINGS]).hexdigest()
            return build(altered, checksums=False), errors.BackupChecksumMismatch(
                f"{SETTINGS} has the SHA-256 {digest}, but {CHECKSUMS} says {expected}.")
        case "truncated":
            return archive[: len(archive) // 2], errors.BackupTruncated(f"The archive ends inside {blob}.")
        case "cut after an entry":
            return build(entries[:3], checksums=False), errors.BackupTruncated(
                f"The archive ends after soma-backup/sessions/000001.jsonl, before {CHECKSUMS}.")
        case "not a tar":
            return b"PK\x03\x04 this is a zip, not a tar" * 40, errors.NotABackup("The file is not a tar archive: its checksum field is not a number.")
        case "wrong format name":
            return build(_with(entries, MANIFEST, _manifest_with(format="agent-zero-backup"))), errors.NotABackup(
                f"{MANIFEST} names the format 'agent-zero-backup', not 'soma-backup'.")
        case "newer format version":
            return build(_with(entries, MANIFEST, _manifest_with(format_version=2, soma_version="9.0.0"))), errors.BackupFormatNewer(
                "Soma 9.0.0 wrote this backup in format version 2; Soma 0.1.0 reads versions up to 1.")
        case "newer schema revision":
            return build(_with(entries, MANIFEST, _manifest_with(schema_revision="0099", soma_version="9.0.0"))), errors.BackupSchemaNewer(
                "Soma 9.0.0 made this backup from schema revision '0099'; Soma 0.1.0 knows revisions up to '0005'.")
        case "lying counts":
            counts = {**json.loads(dict(entries)[MANIFEST])["counts"], "memories": 3}
            return build(_with(entries, MANIFEST, _manifest_with(counts=counts))), errors.BackupCountsWrong(
                f"{MANIFEST} counts 3 memories, but the backup holds 2.")
        case "missing blob":
            return build([(n, d) for n, d in entries if n != blob]), errors.BackupBlobsMismatch(
                f"The document 'keeper-log.txt' has no {blob} entry.")
    raise AssertionError(case)


CASES = [
    "path traversal", "absolute path", "symlink", "hard link", "device", "fifo", "duplicate entry", "unknown entry",
    "entry larger than checksums say", "bad checksum", "truncated", "cut after an entry", "not a tar", "wrong format name",
    "newer format version", "newer schema revision", "lying counts", "missing blob",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
async def test_verify_refuses_a_hostile_or_wrong_archive_in_one_line(case: str, installed: Installed, tmp_path: Path) -> None:
    archive = await make_archive(installed.database_url)
    hostile, error = _hostile(case, entries_of(archive), archive, installed.sha256)
    _refused(_verify(soma_env(installed.database_url), hostile, tmp_path), error)

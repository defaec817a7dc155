"""Hostile or wrong archives, each built by the test from a valid backup, with the error Soma must answer it with."""

from __future__ import annotations

import hashlib
import json
import tarfile

from soma import errors
from soma.db import schema
from tests.backup.conftest import build

MANIFEST, SETTINGS, CHECKSUMS = "soma-backup/manifest.json", "soma-backup/settings.json", "soma-backup/checksums.json"
FILES = "soma-backup/files/000001.jsonl"


def _with(entries: list[tuple[str, bytes]], name: str, change) -> list[tuple[str, bytes]]:
    return [(n, change(d) if n == name else d) for n, d in entries]


def _manifest_with(**changes):
    return lambda data: json.dumps({**json.loads(data), **changes}).encode()


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def _lines(index: int, **changes):
    """A change to one JSON line of a segment."""

    def change(data: bytes) -> bytes:
        lines = data.decode().splitlines()
        lines[index] = json.dumps({**json.loads(lines[index]), **changes}, separators=(",", ":"))
        return ("\n".join(lines) + "\n").encode()

    return change


def _raw(entries: list[tuple[str, bytes]]) -> bytes:
    """Tar entries without the end marker, so more can be appended by hand."""
    out = b""
    for name, data in entries:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        out += info.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return out


def hostile(case: str, entries: list[tuple[str, bytes]], archive: bytes, sha256: str) -> tuple[bytes, errors.SomaError]:
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
            middle = archive.index(dict(entries)[blob]) + len(dict(entries)[blob]) // 2
            return archive[:middle], errors.BackupTruncated(f"The archive ends inside {blob}.")
        case "cut after an entry":
            return build(entries[:3], checksums=False), errors.BackupTruncated(
                f"The archive ends after soma-backup/sessions/000001.jsonl, before {CHECKSUMS}.")
        case "not a tar":
            return b"%PDF-1.7 this is a PDF, not a tar" * 40, errors.NotABackup("The file is not a tar archive: its checksum field is not a number.")
        case "wrong format name":
            return build(_with(entries, MANIFEST, _manifest_with(format="agent-zero-backup"))), errors.NotABackup(
                f"{MANIFEST} names the format 'agent-zero-backup', not 'soma-backup'.")
        case "newer format version":
            return build(_with(entries, MANIFEST, _manifest_with(format_version=2, soma_version="9.0.0"))), errors.BackupFormatNewer(
                "Soma 9.0.0 wrote this backup in format version 2; Soma 0.1.0 reads versions up to 1.")
        case "newer schema revision":
            return build(_with(entries, MANIFEST, _manifest_with(schema_revision="0099", soma_version="9.0.0"))), errors.BackupSchemaNewer(
                f"Soma 9.0.0 made this backup from schema revision '0099'; Soma 0.1.0 knows revisions up to {schema.head()!r}.")
        case "lying counts":
            counts = {**json.loads(dict(entries)[MANIFEST])["counts"], "memories": 3}
            return build(_with(entries, MANIFEST, _manifest_with(counts=counts))), errors.BackupCountsWrong(
                f"{MANIFEST} counts 3 memories, but the backup holds 2.")
        case "size bomb":  # a header that claims 4 GiB, with nothing behind it
            bomb = tarfile.TarInfo(blob)
            bomb.size = 4 * 1024**3
            return _raw(entries[:2]) + bomb.tobuf(tarfile.USTAR_FORMAT), errors.BackupTooLarge(
                f"The entry {blob!r} has {bomb.size} bytes; at most 1073741824 are allowed.")
        case "duplicate row":
            name = "soma-backup/sessions/000001.jsonl"
            return build(_with(entries, name, lambda d: d + d)), errors.BackupDataInvalid(
                f"{name} line 2 repeats the id of an earlier sessions record.")
        case "reply to a missing message":
            name = "soma-backup/messages/000001.jsonl"
            return build(_with(entries, name, _lines(1, reply_to=999999))), errors.BackupDataInvalid(
                f"{name} line 2 replies to message 999999, which the backup lacks before it.")
        case "NUL in text":
            name = "soma-backup/memories/000001.jsonl"
            return build(_with(entries, name, _lines(0, content="The keeper\x00"))), errors.BackupDataInvalid(
                f"{name} line 1 holds a NUL character, which PostgreSQL cannot store.")
        case "vector beyond float4":
            name = "soma-backup/memories/000001.jsonl"
            vector = [1e39] + [0.0] * 383
            return build(_with(entries, name, _lines(0, embedding=vector))), errors.BackupDataInvalid(
                f"{name} line 1 has an invalid embedding: {str(vector)[:80]!r}.")
        case "missing blob":
            return build([(n, d) for n, d in entries if n != blob]), errors.BackupBlobsMismatch(
                f"The document 'keeper-log.txt' has no {blob} entry.")
        case "chat file outside its workspace":
            return build(_with(entries, FILES, _lines(0, path="../../etc/cron.d/evil"))), errors.BackupDataInvalid(
                f"{FILES} line 1 has an invalid path: '../../etc/cron.d/evil'.")
        case "chat file of a missing chat":
            chat = "00000000-0000-0000-0000-000000000001"
            return build(_with(entries, FILES, _lines(0, session_id=chat))), errors.BackupDataInvalid(
                f"{FILES} line 1 belongs to session {chat}, which the backup lacks.")
        case "missing chat file blob":
            first = json.loads(dict(entries)[FILES].splitlines()[0])
            gone = f"soma-backup/file_blobs/{first['sha256']}"
            return build([(n, d) for n, d in entries if n != gone]), errors.BackupBlobsMismatch(
                f"The chat's file {first['path']!r} has no {gone} entry.")
        case "altered chat file blob":
            name = next(n for n, _ in entries if n.startswith("soma-backup/file_blobs/"))
            altered = _with(entries, name, lambda d: b"X" + d[1:])
            return build(altered), errors.BackupChecksumMismatch(f"{name} has the SHA-256 {hashlib.sha256(dict(altered)[name]).hexdigest()}.")
    raise AssertionError(case)


CASES = [
    "path traversal", "absolute path", "symlink", "hard link", "device", "fifo", "duplicate entry", "unknown entry",
    "entry larger than checksums say", "bad checksum", "truncated", "cut after an entry", "not a tar", "wrong format name",
    "newer format version", "newer schema revision", "lying counts", "missing blob", "size bomb", "duplicate row",
    "reply to a missing message", "NUL in text", "vector beyond float4", "chat file outside its workspace", "chat file of a missing chat",
    "missing chat file blob", "altered chat file blob",
]  # fmt: skip

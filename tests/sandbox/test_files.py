"""The workspace the jail sends back is read as untrusted: only what a workspace may hold is kept."""

from __future__ import annotations

import asyncio
import json

import pytest

from soma.sandbox import files, inside, protocol

STATUS = json.dumps({"exit_code": 0}).encode() + b"\n"


def _record(path: bytes, data: bytes) -> bytes:
    return inside.HEADER.pack(len(path), len(data)) + path + data


def _stream(*records: bytes, end: bytes = inside.HEADER.pack(0, 0) + STATUS) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=files.STATUS_MAX_BYTES)
    reader.feed_data(b"".join(records) + end)
    reader.feed_eof()
    return reader


async def test_a_well_formed_workspace_gives_the_files_changed_and_those_deleted() -> None:
    sent = [("same.txt", b"same"), ("edited.txt", b"before"), ("gone.txt", b"bye")]
    back = _stream(_record(b"same.txt", b"same"), _record(b"edited.txt", b"after"), _record("dir/new é.txt".encode(), b"\x00\xff"))

    returned = await files.read_back(back, sent, quota=protocol.MiB)

    assert returned.changed == [("edited.txt", b"after"), ("dir/new é.txt", b"\x00\xff")]
    assert returned.deleted == ["gone.txt"]
    assert returned.status == {"exit_code": 0}


@pytest.mark.parametrize(
    ("records", "end", "reason", "message"),
    [
        ([_record(b"../x", b"")], None, "failed", "The jail sent back the path '../x', which has a '..' part."),
        ([_record(b"/etc/passwd", b"")], None, "failed", "The jail sent back the path '/etc/passwd', which starts with /: give it relative to the chat's files."),
        ([_record(b"a//b", b"")], None, "failed", "The jail sent back the path 'a//b', which has an empty part (// or a / at its end)."),
        ([_record(b"a", b"1"), _record(b"a", b"2")], None, "failed", "The jail sent back the path 'a', which came twice."),
        ([_record(b"\xff\xfe", b"")], None, "failed", "The jail sent back a path that is not UTF-8."),
        ([inside.HEADER.pack(5000, 0)], None, "failed", "The jail sent back a path of 5000 bytes."),
        ([_record(b"big", bytes(protocol.MiB + 1))], None, "workspace_full", "The workspace holds more than its 1 MiB; no file was kept."),
        ([inside.HEADER.pack(3, 2**40) + b"big"], None, "workspace_full", "The workspace holds more than its 1 MiB; no file was kept."),
        ([_record(f"{n}".encode(), b"") for n in range(protocol.MAX_FILES + 1)], None, "workspace_full",
         "The workspace holds more than 10000 files; none was kept."),
        ([inside.HEADER.pack(1, 10) + b"a" + b"short"], b"", "failed", "The jail ended before it sent the whole workspace back."),
        ([], inside.HEADER.pack(0, 0), "failed", "The jail ended before it sent its status."),
        ([], inside.HEADER.pack(0, 0) + b"not json\n", "failed", "The jail's status line is not JSON."),
        ([], inside.HEADER.pack(0, 0) + b"[1]\n", "failed", "The jail's status line is not a JSON object."),
        ([], inside.HEADER.pack(0, 0) + b"x" * (files.STATUS_MAX_BYTES + 10) + b"\n", "failed", "The jail's status line is too long."),
    ],
)  # fmt: skip
async def test_files_sent_back_outside_the_workspace_or_past_the_caps_are_refused(records: list[bytes], end: bytes | None,
                                                                                  reason: str, message: str) -> None:  # fmt: skip
    back = _stream(*records) if end is None else _stream(*records, end=end)

    with pytest.raises(files.Refused) as refused:
        await files.read_back(back, [], quota=protocol.MiB)

    assert (refused.value.reason, str(refused.value)) == (reason, message)


def test_the_records_written_for_the_jail_are_the_ones_it_reads() -> None:
    written = b"".join(files.records([("a/b.txt", b"xy"), ("c", b"")]))

    assert written == _record(b"a/b.txt", b"xy") + _record(b"c", b"") + inside.HEADER.pack(0, 0)

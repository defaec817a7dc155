"""The sandbox's protocol: requests refused naming the field, results written in pieces and read back whole."""

from __future__ import annotations

import base64
import json

import pytest

from soma import errors
from soma.sandbox import protocol

GOOD = {"language": "python", "code": "print(1)"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"language": "ruby"}, "Field 'language' is 'ruby'; give one of python, shell."),
        ({"code": 3}, "Field 'code' must be a string."),
        ({"code": "a\x00b"}, "Field 'code' holds a NUL character."),
        ({"code": "x" * (protocol.MAX_CODE_BYTES + 1)}, "Field 'code' is longer than 1048576 bytes."),
        ({"timeout_seconds": 0}, "Field 'timeout_seconds' is 0; give a whole number from 1 to 3600."),
        ({"memory_mb": True}, "Field 'memory_mb' is True; give a whole number from 32 to 65536."),
        ({"workspace_mb": 10241}, "Field 'workspace_mb' is 10241; give a whole number from 1 to 10240."),
        ({"network": "all"}, "Field 'network' is 'all'; give one of none, egress."),
        ({"files": {}}, "Field 'files' must be a list of {path, data}."),
        ({"files": [{"path": "a"}]}, "Field 'files[0]' must be an object with exactly 'path' and 'data'."),
        ({"files": [{"path": "/etc/passwd", "data": ""}]}, "Field 'files[0].path' '/etc/passwd' starts with /: give it relative to the chat's files."),
        ({"files": [{"path": "a/../../x", "data": ""}]}, "Field 'files[0].path' 'a/../../x' has a '..' part."),
        ({"files": [{"path": "a\nb", "data": ""}]}, "Field 'files[0].path' 'a\\nb' holds a control character."),
        ({"files": [{"path": "x" * 256, "data": ""}]}, f"Field 'files[0].path' '{'x' * 256}' has a part of 256 bytes; at most 255 are allowed."),
        ({"files": [{"path": "a", "data": ""}, {"path": "a/b", "data": ""}]}, "Field 'files[1].path' 'a/b' is given twice, or as both a file and a directory."),
        ({"files": [{"path": "a/b", "data": ""}, {"path": "a", "data": ""}]}, "Field 'files[1].path' 'a' is given twice, or as both a file and a directory."),
        ({"files": [{"path": "a", "data": "not base64!"}]}, "Field 'files[0].data' is not base64."),
        ({"extra": 1}, "Unknown field 'extra'."),
    ],
)  # fmt: skip
def test_a_request_is_refused_naming_its_first_bad_field(change: dict, message: str) -> None:
    with pytest.raises(errors.RunRequestInvalid) as refused:
        protocol.parse_request({**GOOD, **change})

    assert refused.value.detail == message


def test_a_request_reads_back_as_it_was_written() -> None:
    request = protocol.RunRequest("shell", "ls", [("a/b.bin", bytes(range(256)))], 5, 64, 2, "egress")

    assert protocol.parse_request(json.loads(json.dumps(protocol.request_document(request)))) == request
    assert protocol.parse_request(GOOD) == protocol.RunRequest("python", "print(1)", [], 60, 512, 100, "none")


def test_a_result_written_in_pieces_is_one_line_the_client_reads_back_whole() -> None:
    big = bytes(range(256)) * 3000  # several base64 pieces
    result = protocol.Result(0, None, None, True, False, 12.5, [("a.png", big), ("b.txt", b"")], ["gone.txt"])
    line = b"".join(protocol.result_lines(result))

    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert protocol.parse_event(json.loads(line)) == result


def test_the_client_refuses_a_result_whose_file_does_not_match_its_sha256_or_leaves_the_workspace() -> None:
    document = json.loads(b"".join(protocol.result_lines(protocol.Result(0, None, None, False, False, 1.0, [("a", b"x")], []))))
    tampered = {**document, "changed": [{**document["changed"][0], "data": base64.b64encode(b"y").decode()}]}
    escaping = {**document, "deleted": ["../etc"]}

    for bad in (tampered, escaping, {"type": "nonsense"}):
        with pytest.raises(errors.SandboxBroken):
            protocol.parse_event(bad)

"""A chat's files through a backup and a restore, over the API as an admin does it: back byte for byte, with the chat."""

from __future__ import annotations

import hashlib

import pytest

from tests.knowledge import samples

PDF = samples.text_pdf("The keeper's report.")
BINARY = bytes(range(256)) * 5000  # over a megabyte: read and staged in pieces
FILES = {"notes.csv": b"a,b\n1,2\n", "report.pdf": PDF, "out/data.bin": BINARY, "copy/notes.csv": b"a,b\n1,2\n"}


@pytest.mark.parametrize("mode", ["overwrite", "preserve_settings"])
async def test_a_backup_and_restore_bring_a_chats_files_back_byte_for_byte(api, mode: str) -> None:
    chat = (await api.post("/v1/sessions", json={"title": "Files"})).json()["id"]
    sent = await api.post(
        f"/v1/sessions/{chat}/messages", data={"content": "keep these"}, files=[("files", (path, data)) for path, data in FILES.items()]
    )
    assert sent.status_code == 202, sent.text
    listed = (await api.get(f"/v1/sessions/{chat}/files")).json()
    backup = await api.get("/v1/backup")
    assert backup.status_code == 200
    assert (await api.delete(f"/v1/sessions/{chat}")).status_code == 204

    staged = await api.post("/v1/restores", files={"file": ("nightly.tar", backup.content, "application/x-tar")})
    assert staged.status_code == 201, staged.text
    assert (staged.json()["counts"]["files"], staged.json()["counts"]["file_blobs"]) == (4, 3)
    applied = await api.post(f"/v1/restores/{staged.json()['id']}/apply", json={"mode": mode})
    assert applied.status_code == 200, applied.text

    assert (await api.get(f"/v1/sessions/{chat}/files")).json() == listed
    for path, data in FILES.items():
        downloaded = await api.get(f"/v1/sessions/{chat}/files/{path}")
        assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(data).hexdigest(), path

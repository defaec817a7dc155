"""The local SLM: llama.cpp's server (xllamacpp) with the packaged Gemma 3 270M, behind its generated key."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from soma.slm import local

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def server(local_slm_extra: None) -> Iterator[local.LocalSLM]:
    data_dir = Path(tempfile.mkdtemp(prefix="soma-test-slm-"))
    started = local.start(data_dir)
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _stream(server: local.LocalSLM, headers: dict[str, str]) -> tuple[int, list[str]]:
    body = {"model": server.model, "stream": True, "max_tokens": 16,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]}  # fmt: skip
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body, headers=headers, timeout=60) as response:
        return response.status_code, [line for line in response.iter_lines() if line.startswith("data: ")]


def test_the_local_slm_streams_an_answer_to_a_request_with_its_key(server) -> None:
    status, lines = _stream(server, {"Authorization": f"Bearer {server.api_key}"})

    assert status == 200
    assert lines[-1] == "data: [DONE]"
    chunks = [httpx.Response(200, content=line[6:]).json() for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.strip()
    assert {c["model"] for c in chunks} == {local.MODEL_ALIAS}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-key"}], ids=["no key", "wrong key"])
def test_the_local_slm_refuses_a_request_without_its_key(server, headers) -> None:
    status, _ = _stream(server, headers)

    assert status == 401


def test_the_local_slm_key_is_generated_once_and_readable_only_by_its_owner(server) -> None:
    path = Path(server.log_path).parent / "api-key"

    assert path.stat().st_mode & 0o777 == 0o600
    assert local.api_key(path.parent.parent) == server.api_key


def test_the_local_slm_listens_on_127_0_0_1_only(server) -> None:
    port = httpx.URL(server.base_url).port
    assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200

    with pytest.raises(httpx.ConnectError):  # a server bound to all addresses would answer here too
        httpx.get(f"http://127.0.0.2:{port}/health")

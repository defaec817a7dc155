"""The SLM client offers tools, assembles streamed tool calls and keeps its connection, against the scripted SLM over HTTP."""

from __future__ import annotations

from soma.slm import client

TOOLS = [{"type": "function", "function": {"name": "remember", "parameters": {"type": "object", "properties": {}}}}]


async def _pieces(base_url: str, options: client.CallOptions) -> list:
    model = client.SLMClient(client.SLMConfig(base_url=base_url, model="scripted"))
    try:
        return [piece async for piece in model.stream([{"role": "user", "content": "Hi"}], options)]
    finally:
        await model.aclose()


async def test_tool_calls_streamed_in_pieces_come_out_whole_after_the_text(slm) -> None:
    slm.script({
        "chunks": ["Noting", " that."],
        "tool_calls": [
            {"name": "remember", "arguments": {"content": "The user's dog is called Rex."}},
            {"name": "forget", "arguments": '{"id": 3}'},
        ],
    })

    pieces = await _pieces(slm.base_url, client.CallOptions(tools=TOOLS))

    assert pieces == [
        "Noting",
        " that.",
        client.ToolCall("call_0", "remember", '{"content": "The user\'s dog is called Rex."}'),
        client.ToolCall("call_1", "forget", '{"id": 3}'),
    ]
    assert slm.requests()[0]["body"]["tools"] == TOOLS


async def test_without_tools_the_request_has_no_tools_key(slm) -> None:
    assert await _pieces(slm.base_url, client.CallOptions()) == ["Hello", " from", " the", " scripted", " SLM."]
    assert "tools" not in slm.requests()[0]["body"]


async def test_answers_one_after_another_share_one_connection(slm) -> None:
    """After [DONE] the client reads the response to its end, so the connection is kept, not opened anew per turn."""
    model = client.SLMClient(client.SLMConfig(base_url=slm.base_url, model="scripted"))
    try:
        for _ in range(3):
            assert [p async for p in model.stream([{"role": "user", "content": "Hi"}])] == ["Hello", " from", " the", " scripted", " SLM."]
            await model.settled()  # the end of the response is read in the background
    finally:
        await model.aclose()
    assert len({r["client"] for r in slm.requests()}) == 1

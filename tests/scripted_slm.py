"""A scripted OpenAI-compatible SLM: a real HTTP server that streams chosen chunks or misbehaves on cue.

Run: python tests/scripted_slm.py PORT. Control it over HTTP:
  POST /_script   {"steps": [step, ...]}  queue behaviours, one per chat request
  POST /_reset    forget the script and the recorded requests
  POST /_release  let every stream held by "hold_after" go on
  GET  /_requests the chat requests received (body, Authorization header, client address and port, `at` when
                  it came and `done` when its answer's last byte was sent, both time.time())
A step: {"status": 200, "chunks": [...], "delay": seconds between chunks, "stall_after": n
(stop sending after n chunks), "hold_after": n (stop after n chunks until POST /_release), "drop_after": n (close the connection after n chunks),
"retry_after": seconds (header on errors), "key": the only API key accepted,
"tool_calls": [{"name": ..., "arguments": {...} or "raw JSON text"}] (stream these calls, each
one's arguments split over several chunks, after any "chunks", and finish with "tool_calls"),
"usage": {"prompt_tokens": n, "completion_tokens": n, "total_tokens": n} (sent in the last chunk, as
llama.cpp's server and OpenAI with include_usage do)}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

DEFAULT_CHUNKS = ["Hello", " from", " the", " scripted", " SLM."]

state: dict = {"steps": [], "requests": [], "default": {"chunks": DEFAULT_CHUNKS, "delay": 0.0}}
released = asyncio.Event()  # set by POST /_release: held streams go on, and later ones no longer stop


class Drop(Exception):
    """Raised inside a stream to cut the connection without a clean end."""


async def chat(request: Request) -> JSONResponse | StreamingResponse:
    body = await request.json()
    auth = request.headers.get("authorization")
    client = f"{request.client.host}:{request.client.port}" if request.client else None  # one per TCP connection
    record = {"body": body, "authorization": auth, "at": time.time(), "client": client}
    state["requests"].append(record)
    step = state["steps"].pop(0) if state["steps"] else state["default"]
    key = step.get("key", state["default"].get("key"))
    if key is not None and auth != f"Bearer {key}":
        return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, 401)
    status = step.get("status", 200)
    if status != 200:
        headers = {"Retry-After": str(step["retry_after"])} if "retry_after" in step else {}
        return JSONResponse({"error": {"message": f"scripted {status}"}}, status, headers=headers)
    return StreamingResponse(_chunks(step, body.get("model", "scripted"), record), media_type="text/event-stream")


async def _chunks(step: dict, model: str, record: dict):
    calls = step.get("tool_calls", [])
    deltas = [{"content": text} for text in step.get("chunks", [] if calls else DEFAULT_CHUNKS)]
    deltas += [delta for index, call in enumerate(calls) for delta in _tool_call_deltas(index, call)]
    for i, delta in enumerate(deltas):
        if step.get("stall_after") == i:
            await asyncio.sleep(3600)
        if step.get("hold_after") == i:
            await released.wait()
        if step.get("drop_after") == i:
            raise Drop()
        if step.get("delay"):
            await asyncio.sleep(step["delay"])
        chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n"
    done = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}]}
    if "usage" in step:
        done["usage"] = step["usage"]
    yield f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n"
    record["done"] = time.time()


def _tool_call_deltas(index: int, call: dict) -> list[dict]:
    """One call as OpenAI streams it: id and name first, then the arguments' JSON text in pieces."""
    arguments = call["arguments"] if isinstance(call["arguments"], str) else json.dumps(call["arguments"])
    half = len(arguments) // 2
    first = {"index": index, "id": f"call_{index}", "type": "function", "function": {"name": call["name"], "arguments": ""}}
    pieces = [{"index": index, "function": {"arguments": part}} for part in (arguments[:half], arguments[half:])]
    return [{"role": "assistant", "content": None, "tool_calls": [first]}] + [{"tool_calls": [piece]} for piece in pieces]


async def models(request: Request) -> JSONResponse:
    key = state["default"].get("key")
    if key is not None and request.headers.get("authorization") != f"Bearer {key}":
        return JSONResponse({"error": {"message": "Incorrect API key provided"}}, 401)
    return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})


async def script(request: Request) -> JSONResponse:
    payload = await request.json()
    state["steps"].extend(payload.get("steps", []))
    if "default" in payload:
        state["default"] = payload["default"]
    return JSONResponse({"queued": len(state["steps"])})


async def reset(request: Request) -> JSONResponse:
    state.update(steps=[], requests=[], default={"chunks": DEFAULT_CHUNKS, "delay": 0.0})
    released.clear()
    return JSONResponse({"ok": True})


async def release(request: Request) -> JSONResponse:
    released.set()
    return JSONResponse({"ok": True})


async def requests(request: Request) -> JSONResponse:
    return JSONResponse({"requests": state["requests"]})


app = Starlette(routes=[
    Route("/v1/chat/completions", chat, methods=["POST"]),
    Route("/v1/models", models),
    Route("/_script", script, methods=["POST"]),
    Route("/_reset", reset, methods=["POST"]),
    Route("/_release", release, methods=["POST"]),
    Route("/_requests", requests),
])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")

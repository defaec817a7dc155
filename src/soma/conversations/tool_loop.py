"""A turn's agent loop: ask the SLM, run the tools it asks for, give it their results, ask again, until it answers.

Each SLM request is a step, up to the `max_tool_steps` setting; the last allowed one offers no
tools, so every turn ends with an answer. The steps of a turn and of the subordinate turns it
delegates to (soma.conversations.subordinates) come out of one `Budget`, the top turn's
`max_tool_steps`: a subordinate takes at most what is left, so a tree of turns costs no more SLM
requests than its top turn alone may make. The calls of a step run through tool_calls.Runner, which
records them durably; the messages of later requests are built from those records (steps.messages),
so a turn resumed after a crash goes on from its last finished step as if it had never stopped.

Tools reach the SLM as OpenAI tool calls (`native`), or as a JSON object in its text (`json`,
json_tools.py) for models without them. A server that refuses `tools` with a 4xx is asked the
original chat again without them; one that refuses `response_format`, again without it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from soma import errors
from soma.conversations import json_tools, prompt, steps
from soma.conversations.reply import Answer, Reply
from soma.conversations.tool_calls import Runner
from soma.slm import client as slm

log = logging.getLogger(__name__)


@dataclass
class Budget:
    """The SLM requests a tree of turns may still make, beyond the one each running turn holds for its next request.

    A turn starts holding one (its first request: the top turn's, or the one `delegate` took for
    a subordinate). Offering tools on a request takes one more, for the request after the tools
    ran; an answer without tools gives it back. So every turn can always answer, and all the turns
    of a tree together make at most the top turn's `max_tool_steps` requests.
    """

    left: int

    def take(self) -> bool:
        """Take one request for later; False when none is left."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def give_back(self) -> None:
        """Return a request taken but not needed."""
        self.left += 1

    def charge(self, requests: int) -> None:
        """Count requests an earlier run of a turn made before its worker died."""
        self.left = max(self.left - requests, 0)


class Loop:
    """One turn's exchange with the SLM: its requests, and the tool steps between them."""

    def __init__(
        self, model: slm.SLMClient, reply: Reply, chat: list[dict[str, Any]], options: slm.CallOptions,
        runner: Runner | None, max_steps: int, tool_call_format: str, budget: Budget,
    ) -> None:  # fmt: skip
        self._model = model
        self._reply = reply
        self._chat = chat
        self._options = options
        self._runner = runner
        self._max_steps = max_steps  # this turn's own limit: a subordinate's profile may set a lower one than the budget's
        self._budget = budget
        self._json = tool_call_format == "json"
        self._tools_on = runner is not None and bool(runner.toolset) and tool_call_format != "off"
        self._with_steps = True  # False once the SLM refused tools: it is asked the original chat
        self._schema = True  # json: send the response_format until the server refuses it
        self._correction: list[dict[str, Any]] = []  # json: the one correction of a request that could not be used
        self._corrected = False

    async def run(self) -> Answer:
        """Stream the answer into the reply, carrying out the tools the SLM asks for between its requests.

        A turn that ran before (its worker died) first finishes its recorded calls, then asks the
        step after the last. When the turn is stopped, the reply holds what came so far.
        """
        runner = self._runner
        if runner is not None and runner.calls:
            for text in steps.texts(runner.calls):
                self._reply.add_text(text)
            await runner.resume()
        step = (runner.last_step if runner else 0) + 1
        self._budget.charge(step - 1)
        while True:
            offered = self._tools_on and step < self._max_steps and self._budget.take()
            requested = await (self._json_request(offered) if self._json else self._native_request(offered))
            if not requested:
                if offered:
                    self._budget.give_back()
                return self._reply.answer()
            assert runner is not None
            await runner.run_step(step, requested, "" if self._json else self._reply.round_text)
            step += 1

    def _messages(self) -> list[dict[str, Any]]:
        """The chat, then the steps taken so far."""
        if self._runner is None or not self._with_steps:
            return list(self._chat)
        return self._chat + steps.messages(self._runner.calls, "json" if self._json else "native")

    async def _native_request(self, offered: bool) -> list[slm.ToolCall]:
        """One request offering the tools as OpenAI functions (or none); the calls it asked for, [] for an answer."""
        tools = self._runner.toolset.definitions() if offered and self._runner else None
        try:
            calls = await self._reply.stream(self._model, self._messages(), replace(self._options, tools=tools))
        except errors.SLMBadRequest as exc:
            if not offered:
                raise
            log.warning(
                "the SLM refused a request with tools (%s); asking again without them. "
                "Set tools_enabled to false (PUT /v1/settings) to spare the extra request.",
                exc.detail,
            )
            self._tools_on = self._with_steps = False
            self._reply.restart()
            return await self._native_request(False)
        return calls if offered else []

    async def _json_request(self, offered: bool) -> list[slm.ToolCall]:
        """One request whose text is a JSON tool request or an answer; the call it asked for, [] for an answer."""
        messages = self._messages()
        if not offered:
            if self._tools_on:  # the last step: the model has seen tools, and is told it has none left
                messages = prompt.with_note(messages, json_tools.LAST_STEP)
            await self._reply.stream(self._model, messages, self._options)
            return []
        assert self._runner is not None
        toolset = self._runner.toolset
        messages = prompt.with_note(messages, json_tools.instructions(toolset)) + self._correction
        schema = json_tools.response_format(toolset) if self._schema else None
        try:
            await self._reply.stream(self._model, messages, replace(self._options, response_format=schema), hold=True)
        except errors.SLMBadRequest as exc:
            if schema is None:
                raise
            log.info("the SLM refused a JSON-schema response_format (%s); asking again without it", exc.detail)
            self._schema = False
            return await self._json_request(offered)
        text = self._reply.round_text
        parsed = json_tools.parse(text, toolset)
        if isinstance(parsed, json_tools.ToolRequest):
            self._correction = []
            return [slm.ToolCall("", parsed.function, json.dumps(parsed.arguments, ensure_ascii=False))]
        if isinstance(parsed, json_tools.Malformed) and not self._corrected:
            self._corrected = True
            correction = json_tools.correction(parsed.problem, toolset)
            self._correction = [{"role": "assistant", "content": text}, {"role": "user", "content": correction}]
            return await self._json_request(offered)
        self._reply.add_text(parsed.text if isinstance(parsed, json_tools.Plain) else text)
        return []

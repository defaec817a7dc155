// The message list of one chat, built from the session's event log.
//
// Each user message is followed by its turn: the assistant's answer to it (keyed by the
// answer's `reply_to`). A turn goes queued → streaming → done, or → failed; `turn.started`
// starts it over (a retry: the partial text so far is dropped), and `assistant.message`
// replaces the streamed text with the stored answer. Messages are keyed by id, so a message
// seen twice (from the POST response and from its `message.created` event) is shown once.
// A message shows as rendered Markdown (markdown.js) once complete; while it streams, as text.

import { h } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { copyButton } from "./widgets.js";

const ROLE_LABEL = { user: "You", assistant: "Soma", system: "System" };

export class Transcript {
  /** @param {HTMLElement} list the <ol> the messages go in (emptied here) */
  constructor(list) {
    this.list = list;
    this.list.replaceChildren();
    this.list.removeAttribute("aria-busy");
    this.messageIds = new Set();
    this.turns = new Map(); // user message id → Turn
  }

  isEmpty() {
    return this.list.childElementCount === 0;
  }

  /** Apply one event from the session's log. */
  apply({ type, data }) {
    switch (type) {
      case "message.created":
      case "assistant.message":
        this.addMessage(data.message);
        break;
      case "turn.started":
        this.turn(data.reply_to).start(data.attempt);
        break;
      case "assistant.delta":
        this.turn(data.reply_to).append(data.text);
        break;
      case "turn.failed":
        this.turn(data.reply_to).fail(data.reason, data.message);
        break;
      default:
        return;
    }
    this.updateBusy();
  }

  /** Show a stored message unless it is already shown. */
  addMessage(message) {
    if (!message || this.messageIds.has(message.id)) return;
    this.messageIds.add(message.id);
    if (message.role === "assistant" && message.reply_to != null) {
      this.turn(message.reply_to).finish(message);
    } else {
      this.list.append(h("li", { class: "entry" }, bubble(message.role, message.content, { state: null, messageId: message.id })));
      if (message.role === "user") this.turn(message.id); // its answer goes right after it
    }
    this.updateBusy();
  }

  turn(replyTo) {
    let turn = this.turns.get(replyTo);
    if (!turn) {
      turn = new Turn(replyTo);
      this.turns.set(replyTo, turn);
      this.list.append(turn.el);
    }
    return turn;
  }

  /** Whether an answer is waiting in the queue or being written. */
  isAnswering() {
    return [...this.turns.values()].some((t) => t.state === "queued" || t.state === "streaming");
  }

  updateBusy() {
    // Screen readers wait for the whole answer instead of reading every token.
    const streaming = [...this.turns.values()].some((t) => t.state === "streaming");
    if (streaming) this.list.setAttribute("aria-busy", "true");
    else this.list.removeAttribute("aria-busy");
  }
}

class Turn {
  constructor(replyTo) {
    this.replyTo = replyTo;
    this.state = "queued";
    this.text = null; // the Text node the deltas grow
    this.el = h("li", { class: "entry turn", dataset: { testid: "turn", replyTo: String(replyTo) } });
    this.render();
  }

  start(attempt) {
    if (this.state === "done") return;
    this.state = "streaming";
    this.attempt = attempt;
    this.render(); // a fresh, empty answer: whatever streamed before is dropped
  }

  append(text) {
    if (this.state === "done" || typeof text !== "string") return;
    if (this.state !== "streaming") {
      this.state = "streaming";
      this.render();
    }
    this.text.appendData(text);
    this.el.querySelector(".thinking")?.remove();
  }

  finish(message) {
    this.state = "done";
    this.render(message);
  }

  fail(reason, message) {
    if (this.state === "done") return;
    this.state = "failed";
    this.render(null, { reason, message });
  }

  render(message = null, failure = null) {
    this.el.dataset.state = this.state;
    this.text = null;
    if (this.state === "queued") {
      this.el.replaceChildren(
        h("div", { class: "pending", dataset: { testid: "turn-pending" } }, dots(), h("span", { class: "visually-hidden" }, "Waiting for an answer")),
      );
    } else if (this.state === "streaming") {
      const el = bubble("assistant", "", { state: "streaming" });
      this.text = el.querySelector(".content").firstChild;
      el.querySelector(".content").after(h("div", { class: "thinking", "aria-hidden": "true" }, dots()));
      this.el.replaceChildren(el);
    } else if (this.state === "done") {
      this.el.replaceChildren(bubble("assistant", message.content, { state: "done", messageId: message.id }));
    } else if (this.state === "failed") {
      this.el.replaceChildren(failedNotice(failure.reason, failure.message));
    }
  }
}

/** A message: streamed text stays a Text node to grow; a finished one is rendered Markdown with a copy button. */
function bubble(role, content, { state = "done", messageId = null } = {}) {
  const streaming = state === "streaming";
  const body = streaming ? document.createTextNode(content ?? "") : renderMarkdown(content);
  return h(
    "article",
    {
      class: `message message-${role}`,
      dataset: {
        testid: "message",
        role,
        ...(state ? { state } : {}),
        ...(messageId != null ? { messageId: String(messageId) } : {}),
      },
    },
    h("span", { class: "visually-hidden" }, `${ROLE_LABEL[role] ?? role}: `),
    h("div", { class: streaming ? "content" : "content markdown", dataset: { testid: "message-content" } }, body),
    streaming ? null : h("div", { class: "message-actions" }, copyButton({ text: () => content ?? "", label: "Copy message", testid: "copy-message" })),
  );
}

function failedNotice(reason, message) {
  return h(
    "div",
    { class: "turn-failed", role: "note", dataset: { testid: "turn-failed" } },
    h(
      "div",
      { class: "turn-failed-head" },
      h("strong", {}, "No answer: the turn failed"),
      h("code", { class: "reason", dataset: { testid: "turn-failed-reason" } }, reason || "unknown"),
    ),
    h("p", { class: "turn-failed-message", dataset: { testid: "turn-failed-message" } }, message || ""),
  );
}

function dots() {
  return h("span", { class: "dots", "aria-hidden": "true" }, h("span"), h("span"), h("span"));
}

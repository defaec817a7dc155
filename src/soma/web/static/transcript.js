// The message list of one chat, built from the session's event log.
//
// Each user message is followed by its turn: the assistant's answer to it (keyed by the
// answer's `reply_to`). A turn goes queued → streaming → done, or → failed, or → cancelled (a
// queued turn stopped before it started); `turn.started` starts it over (a retry: the partial text
// so far is dropped), and `assistant.message` replaces the streamed text with the stored answer.
// Messages are keyed by id, so a message seen twice (from the POST response and from its
// `message.created` event) is shown once.
//
// Regenerating or editing writes a new version of the answer under the same id: a finished turn
// that sees `turn.started` with attempt 1 is being answered again (a late retry of the answer it
// already has would be a later attempt, and is ignored), and `message.updated` redraws an edited
// question. Only the last question can be edited and only the last answer regenerated, and
// neither while an answer is being written. Bubbles themselves are drawn by message.js.
//
// An answer's versions are grouped by the version of its question they answer (a version of the
// answer answers the question's latest version written before it: an edit queues its answer after
// it is stored), so both counters count versions of their own message in the branch shown, and
// flipping the question to an earlier version shows the answers that version had.
//
// A turn's `tool.*` events become the steps of its answer (steps.js), `tool.output` growing a running
// call's output; a run's files link to the chat's (chat-files.js). The steps of one run of the
// turn stay together: a turn started again after it failed, or answered again, starts a new list,
// while one restarted mid-run (a retried SLM request, a worker that died) keeps its list, whose
// lines are keyed by call_id. Each stored version of an answer keeps the steps of the run that
// wrote it, so flipping to an earlier version shows its own. `delegate.*` events go to the step
// of their call, whichever turn holds it; a delegate step holds a child chat's own Transcript
// (delegation.js, given as `nest`), so children nest as deep as they delegate.

import { h } from "./dom.js";
import { messageBubble, streamingBubble } from "./message.js";
import { StepList } from "./steps.js";

export class Transcript {
  /**
   * @param {HTMLElement} list the <ol> the messages go in (emptied here)
   * @param {{onRegenerate?: () => void, onEdit?: (message: object, content: string) => Promise<void>,
   *          onDecide?: (callId: string, allow: boolean) => Promise<void>, files?: import("./chat-files.js").ChatFiles,
   *          nest?: () => import("./delegation.js").Delegation, keep?: (draw: () => void) => void}} actions
   *   without them, no message offers to be regenerated or edited, and no tool call to be allowed or denied;
   *   without `files`, files a message carried or a run wrote are named, not linked; without `nest`,
   *   a delegate call shows no child chat; `keep(draw)` runs each redraw of a streaming answer (between
   *   events), so the page can keep its scroll position
   */
  constructor(list, { onRegenerate = null, onEdit = null, onDecide = null, files = null, nest = null, keep = (draw) => draw() } = {}) {
    this.list = list;
    this.list.replaceChildren();
    this.list.removeAttribute("aria-busy");
    this.onRegenerate = onRegenerate;
    this.onEdit = onEdit;
    this.onDecide = onDecide;
    this.files = files;
    this.nest = nest;
    this.keep = keep;
    this.messages = new Map(); // id → the message as last drawn
    this.questions = new Map(); // user message id → its <li>
    this.turns = new Map(); // user message id → Turn
  }

  isEmpty() {
    return this.list.childElementCount === 0;
  }

  /** Apply one event from the session's log. */
  apply({ type, data }) {
    switch (type) {
      case "message.created":
      case "message.updated":
      case "assistant.message":
        this.addMessage(data.message);
        return;
      case "turn.started":
        this.turn(data.reply_to).start(data.attempt);
        break;
      case "assistant.delta": {
        const turn = this.turn(data.reply_to);
        const before = turn.state;
        turn.append(data.text);
        if (turn.state === before) return; // most deltas change nothing but the text
        break;
      }
      case "turn.failed":
        this.turn(data.reply_to).fail(data.reason, data.message);
        break;
      case "turn.cancelled":
        this.turn(data.reply_to).cancel();
        break;
      case "tool.started":
      case "tool.finished":
      case "tool.approval":
        if (data.reply_to === undefined || data.reply_to === null) return;
        this.turn(data.reply_to).step(type, data);
        break;
      case "tool.output": // like a delta: it changes nothing but a call's output
        if (data.reply_to !== undefined && data.reply_to !== null) this.turns.get(data.reply_to)?.steps.apply(type, data);
        return;
      case "delegate.started":
      case "delegate.finished": // in the log between its call's tool.started and tool.finished
        [...this.turns.values()].find((turn) => turn.steps.has(data.call_id))?.steps.apply(type, data);
        return;
      default:
        return;
    }
    this.updated();
  }

  /** Show a stored message, or its new version; a message shown as it is already is left alone. */
  addMessage(message) {
    if (!message || sameVersion(this.messages.get(message.id), message)) return;
    this.messages.set(message.id, message);
    if (message.role === "assistant" && message.reply_to != null) {
      const flipped = this.turn(message.reply_to).finish(message);
      const question = this.messages.get(message.reply_to);
      if (flipped && question) this.drawQuestion(question); // the new answer is to its latest version: show that one
    } else {
      this.drawQuestion(message);
    }
    this.updated();
  }

  /** Draw a message that is not an answer: a question (then its turn follows it), or a system note. */
  drawQuestion(message) {
    const asks = message.role === "user";
    const onVersion = asks ? (index, last) => this.turns.get(message.id)?.showBranch(last ? null : index) : null;
    const bubble = messageBubble(message, { state: null, onEdit: asks ? this.onEdit : null, files: this.files, onVersion });
    const entry = this.questions.get(message.id);
    if (entry) {
      this.turns.get(message.id)?.showBranch(null); // its latest version is shown, with its answers
      entry.replaceChildren(bubble);
      return;
    }
    const li = h("li", { class: "entry" }, bubble);
    this.list.append(li);
    if (asks) {
      this.questions.set(message.id, li);
      this.turn(message.id); // its answer goes right after it
    }
  }

  turn(replyTo) {
    let turn = this.turns.get(replyTo);
    if (!turn) {
      turn = new Turn(replyTo, this, () => this.messages.get(replyTo));
      this.turns.set(replyTo, turn);
      this.list.append(turn.el);
    }
    return turn;
  }

  /** The chat is no longer shown: the child chats of its delegate calls stop streaming. */
  close() {
    for (const turn of this.turns.values()) turn.close();
  }

  /** Whether an answer is waiting in the queue or being written. */
  isAnswering() {
    return [...this.turns.values()].some((t) => t.state === "queued" || t.state === "streaming");
  }

  updated() {
    const answering = this.isAnswering();
    // Screen readers wait for the whole answer instead of reading every token, but hear at once
    // that a tool call waits for their decision.
    const asking = [...this.turns.values()].some((t) => t.steps.isAsking());
    if (answering && !asking) this.list.setAttribute("aria-busy", "true");
    else this.list.removeAttribute("aria-busy");
    // Only the last exchange can be redone, and only once its answer is over.
    const lastQuestion = [...this.questions.keys()].pop();
    for (const button of this.list.querySelectorAll('[data-testid="regenerate"], [data-testid="edit-message"]')) button.hidden = true;
    if (answering || lastQuestion === undefined) return;
    this.questions.get(lastQuestion).querySelector('[data-testid="edit-message"]')?.removeAttribute("hidden");
    this.turns.get(lastQuestion)?.el.querySelector('[data-testid="regenerate"]')?.removeAttribute("hidden");
  }
}

function sameVersion(shown, message) {
  return shown !== undefined && shown.content === message.content && (shown.versions || []).length === (message.versions || []).length;
}

class Turn {
  /** @param {Transcript} transcript  its handlers; `question()` is the question as last drawn */
  constructor(replyTo, { onRegenerate, onDecide, files, nest, keep }, question) {
    this.replyTo = replyTo;
    this.onRegenerate = onRegenerate;
    this.onDecide = onDecide;
    this.files = files;
    this.nest = nest;
    this.keep = keep;
    this.question = question;
    this.branch = null; // the version of the question whose answers are shown; null: its latest
    this.state = "queued";
    this.message = null; // the stored answer, kept while a new version is written
    this.stream = null; // the streaming bubble the deltas grow
    this.steps = this.stepList(); // the tool calls of the run in progress (or the last one)
    this.versionSteps = new Map(); // version index of the stored answer → the StepList of the run that wrote it
    this.el = h("li", { class: "entry turn", dataset: { testid: "turn", replyTo: String(replyTo) } });
    this.render();
  }

  start(attempt) {
    if (this.state === "done" && attempt !== 1) return; // a late retry of the answer it already has
    if (SETTLED.has(this.state)) this.steps = this.stepList(); // a new run, not a resumed one
    this.state = "streaming";
    this.attempt = attempt;
    this.render(); // a fresh, empty answer: whatever streamed before is dropped
  }

  stepList() {
    return new StepList({ onDecide: this.onDecide, files: this.files, nest: this.nest });
  }

  close() {
    for (const steps of new Set([this.steps, ...this.versionSteps.values()])) steps.close();
  }

  append(text) {
    if (this.state === "done" || typeof text !== "string") return;
    if (this.state !== "streaming") {
      this.state = "streaming";
      this.render();
    }
    this.stream.append(text);
    this.el.querySelector(".thinking")?.remove();
  }

  /** A tool call of this run started, finished or asks for approval. */
  step(type, data) {
    this.steps.apply(type, data);
    if (this.state === "queued") {
      this.state = "streaming"; // its turn.started is in the log before it; this only guards the order
      this.render();
    }
  }

  /** The stored answer, or its new version; true when the reader had flipped to an earlier question's answers (now the latest show). */
  finish(message) {
    const flipped = this.branch !== null;
    this.branch = null;
    this.state = "done";
    this.message = message;
    this.versionSteps.set((message.versions || []).length, this.steps);
    this.steps.settle();
    this.render();
    return flipped;
  }

  fail(reason, message) {
    if (this.state === "done") return;
    this.state = "failed";
    this.steps.settle();
    this.render({ reason, message });
  }

  /** Stopped before it started: back to the answer it had, if any. */
  cancel() {
    if (this.state === "done") return;
    this.state = this.message ? "done" : "cancelled";
    this.steps.settle();
    this.render();
  }

  /** Show the answers to version `branch` of the question (null: its latest), as the question was flipped. */
  showBranch(branch) {
    if (branch === this.branch) return;
    this.branch = branch;
    if (this.message && (this.state === "done" || this.state === "failed")) this.render(this.failure);
  }

  /** Which version of the question version `index` of the stored answer answers. */
  branchOf(index) {
    const question = this.question();
    const answer = [...(this.message.versions || []), this.message][index];
    const asked = [...(question?.versions || []), question || {}].map((v) => Date.parse(v.created_at));
    const at = Date.parse(answer.created_at);
    let branch = 0;
    asked.forEach((time, n) => {
      if (time <= at) branch = n;
    });
    return branch;
  }

  render(failure = null) {
    this.el.dataset.state = this.state;
    this.failure = failure;
    this.stream = null;
    const stepsFor = (index) => this.versionSteps.get(index)?.el;
    const branchOf = (index) => this.branchOf(index);
    const stored = this.message ? messageBubble(this.message, { state: "done", onRegenerate: this.onRegenerate, stepsFor, branchOf, branch: this.branch }) : null;
    if (this.state === "queued") {
      this.el.replaceChildren(
        h("div", { class: "pending", dataset: { testid: "turn-pending" } }, dots(), h("span", { class: "visually-hidden" }, "Waiting for an answer")),
      );
    } else if (this.state === "streaming") {
      this.stream = streamingBubble(this.steps.el, this.keep);
      const { el } = this.stream;
      el.append(h("div", { class: "thinking", "aria-hidden": "true" }, dots()));
      this.el.replaceChildren(el);
    } else if (this.state === "done") {
      this.el.replaceChildren(stored);
    } else if (this.state === "failed") {
      const notice = failedNotice(failure.reason, failure.message, stored ? null : this.onRegenerate);
      this.el.replaceChildren(h("div", { class: "turn-stack" }, stored, this.steps.el, notice)); // the failed run's own steps
    } else if (this.state === "cancelled") {
      this.el.replaceChildren(
        h("div", { class: "turn-cancelled", role: "note", dataset: { testid: "turn-cancelled" } }, "Stopped before an answer was written.", regenerateButton(this.onRegenerate)),
      );
    }
  }
}

const SETTLED = new Set(["done", "failed", "cancelled"]); // a turn.started after these begins a new run

function failedNotice(reason, message, onRegenerate) {
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
    regenerateButton(onRegenerate),
  );
}

/** "Try again" where there is no answer to regenerate from (hidden until it is the last turn). */
function regenerateButton(onRegenerate) {
  if (!onRegenerate) return null;
  return h("button", { type: "button", class: "button subtle small", hidden: true, dataset: { testid: "regenerate" }, onclick: onRegenerate }, "Try again");
}

function dots() {
  return h("span", { class: "dots", "aria-hidden": "true" }, h("span"), h("span"), h("span"));
}

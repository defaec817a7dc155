// What a `delegate` call shows inside its step (steps.js): a title saying to which profile it
// handed which task, and the child chat it made, drawn from the child's own event log by a
// Transcript of its own, so the child's question, answer and tool calls (its own delegations too)
// show nested under the parent's step.
//
// The child's log streams from /v1/sessions/{child}/events only while the step is open: from
// `delegate.started` while the call runs (its step opens by itself), or from when the reader opens
// a finished one. Once the call is over and the child's answer is in, the stream closes for good:
// a browser holds only a few connections per server, and a chat may have made many children.
// Opening and closing wait for the current task to end, so a finished delegation replayed from
// the parent's log (started, then finished, in a row) does not open a stream for nothing.

import * as api from "./api.js";
import { h } from "./dom.js";
import { SessionStream } from "./events.js";
import { parseObject } from "./format.js";
import { Transcript } from "./transcript.js";

/** A delegate step's child chat: `title` goes on the step's line, `el` in its body. */
export class Delegation {
  /**
   * @param {{onChange?: (apply: () => void) => void}} options
   *   onChange: runs `apply`, which draws a change in the child chat, so the page can keep its scroll
   *   position around it (the chats nested below get the same)
   */
  constructor({ onChange = (apply) => apply() } = {}) {
    this.onChange = onChange;
    this.title = h("span", { class: "delegate-title", dataset: { testid: "step-delegate" } }, "Delegated");
    this.profile = "";
    this.task = "";
    this.link = h("a", { class: "link delegate-open", hidden: true, dataset: { testid: "delegate-open" } }, "Open this chat");
    this.list = h("ol", { class: "messages delegate-messages", "aria-label": "The delegated chat", dataset: { testid: "delegate-messages" } });
    this.waiting = h("p", { class: "muted delegate-waiting", dataset: { testid: "delegate-waiting" } }, "Starting the delegated chat…");
    this.el = h(
      "div",
      { class: "step-part delegate-child", dataset: { testid: "delegate-child" } },
      h("div", { class: "delegate-head" }, h("div", { class: "step-label" }, "Delegated chat"), this.link),
      this.waiting,
      this.list,
    );
    this.childId = null;
    this.transcript = null;
    this.stream = null;
    this.lastId = 0; // the child's last event applied, to resume from when the step opens again
    this.visible = false;
    this.over = false; // the call finished
    this.closed = false; // the parent chat is no longer shown
    this.timer = null;
  }

  /** The call's arguments, {profile, task}: the title says them. */
  describe(args) {
    const parsed = typeof args === "string" ? parseObject(args) : args;
    if (parsed && typeof parsed.profile === "string") this.profile = parsed.profile;
    if (parsed && typeof parsed.task === "string") this.task = parsed.task;
    this.retitle();
  }

  retitle() {
    const to = this.profile ? `Delegated to ${this.profile}` : "Delegated";
    this.title.textContent = this.task ? `${to}: ${this.task}` : to;
    this.title.title = this.title.textContent;
  }

  /** `delegate.started` {profile, session_id}: the child chat to show. */
  started(data) {
    if (typeof data.profile === "string" && data.profile && !this.profile) {
      this.profile = data.profile;
      this.retitle();
    }
    this.attach(data.session_id);
  }

  /** `delegate.finished` {session_id, ok}, or the call's own tool.finished details {session_id, profile, ok}. */
  finished(data) {
    this.over = true;
    if (data && data.session_id) this.attach(data.session_id);
    this.sync();
  }

  attach(sessionId) {
    if (this.childId || typeof sessionId !== "string" || !sessionId) return;
    this.childId = sessionId;
    this.link.href = `#/chats/${sessionId}`;
    this.link.hidden = false;
    this.transcript = new Transcript(this.list, {
      onDecide: (callId, allow) => api.decideApproval(sessionId, callId, allow),
      nest: () => new Delegation({ onChange: this.onChange }),
      keep: this.onChange,
    });
    this.sync();
  }

  /** The step was opened or closed. */
  show(visible) {
    this.visible = visible;
    this.sync();
  }

  /** The parent chat is no longer shown: stop streaming, here and in every chat nested below. */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.stopStreaming();
    this.transcript?.close();
  }

  /** Whether the child's log is all here: the call is over and its chat has an answer (or a failure). */
  complete() {
    return this.over && this.transcript !== null && !this.transcript.isEmpty() && !this.transcript.isAnswering();
  }

  /** Stream the child's log while the step is open and something may still come; after this task. */
  sync() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const wanted = !this.closed && this.childId !== null && this.visible && !this.complete();
      if (wanted && !this.stream) this.startStreaming();
      else if (!wanted && this.stream) this.stopStreaming();
    }, 0);
  }

  startStreaming() {
    const childId = this.childId;
    this.stream = new SessionStream((after) => api.eventsUrl(childId, after), {
      onEvent: (event) => {
        this.onChange(() => {
          this.transcript.apply(event);
          this.waiting.hidden = true;
        });
        if (this.over) this.sync(); // its answer may be the last thing to come
      },
      onRefused: () => api.checkSession(),
    });
    this.stream.open(this.lastId);
  }

  stopStreaming() {
    if (!this.stream) return;
    this.lastId = this.stream.lastId;
    this.stream.close();
    this.stream = null;
  }
}

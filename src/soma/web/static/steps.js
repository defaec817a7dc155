// The tool calls behind one answer, each a collapsible line inside it: the tool's name (and its
// server, unless it is one of Soma's own), a running indicator, then whether it worked and how long
// it took; expanded, its arguments as indented JSON and its result as text (long ones scroll).
//
// A line is keyed by its call_id, so a call seen twice (a turn resumed after its worker died
// records it again) stays one line, updated in place. `tool.approval` asks the reader to allow or
// deny a call: Allow and Deny POST the decision, and go once it is made, once the call starts or
// finishes (decided in another tab, or timed out), or once the turn is over. Arguments and results
// come from the SLM and the tools: like every text here they are never parsed as HTML (dom.js).
//
// What a running call prints (`tool.output`) grows under "Output" as it comes. A `run_code` call
// (code-run.js) shows its code instead of its arguments, opened from the start, then how it
// ended, and under its line the files it changed; its result, which repeats its output for the
// model, shows only when no output came (a log that no longer holds it).
//
// A `delegate` call (delegation.js, given as `nest`) is titled "Delegated to <profile>: <task>" and
// holds the child chat's own messages and steps, opened while it runs and closed once it is over;
// `delegate.started` names the child chat and `delegate.finished` says how it ended.

import { CodeRun, OutputPane, RUN_CODE } from "./code-run.js";
import { h } from "./dom.js";
import { formatDuration } from "./format.js";
import { ErrorBanner } from "./widgets.js";

const BUILT_IN = "soma"; // the server of Soma's own tools, not named on their lines
export const DELEGATE = "delegate"; // the built-in tool whose steps hold a child chat
const STATUS = {
  asking: "Waiting for your approval",
  allowed: "Allowed",
  denied: "Denied",
  running: "Running",
  ok: "Done",
  error: "Failed",
  interrupted: "Not finished",
};

let lastId = 0; // for the ids aria-controls and aria-labelledby need: call ids are the model's words

/** A turn's tool calls: `el` goes in the answer, `apply()` takes the turn's tool.* events. */
export class StepList {
  /**
   * @param {{onDecide?: (callId: string, allow: boolean) => Promise<void>, files?: import("./chat-files.js").ChatFiles,
   *          nest?: () => import("./delegation.js").Delegation}} options
   *   without onDecide, approvals offer no buttons; without files, a run's files are named, not linked;
   *   without nest, a delegate call is drawn like any other
   */
  constructor({ onDecide = null, files = null, nest = null } = {}) {
    this.onDecide = onDecide;
    this.files = files;
    this.nest = nest;
    this.steps = new Map(); // call_id → Step, in the order the calls were first seen
    this.el = h("div", { class: "steps", role: "list", "aria-label": "Tool calls", hidden: true, dataset: { testid: "steps" } });
  }

  /** Whether call `callId` is one of these. */
  has(callId) {
    return this.steps.has(String(callId));
  }

  /** Apply a `tool.started`, `tool.finished`, `tool.approval`, `tool.output`, `delegate.started` or `delegate.finished` event. */
  apply(type, data) {
    if (data.call_id === undefined || data.call_id === null) return;
    const callId = String(data.call_id);
    let step = this.steps.get(callId);
    if (!step) {
      step = new Step(callId, this.onDecide, this.files, this.nest);
      this.steps.set(callId, step);
      this.el.append(step.el);
      this.el.hidden = false;
    }
    if (type === "tool.started") step.start(data);
    else if (type === "tool.finished") step.finish(data);
    else if (type === "tool.approval") step.ask(data);
    else if (type === "tool.output") step.output(data);
    else if (type.startsWith("delegate.")) step.delegated(type, data);
  }

  /** Whether a call waits for the reader's decision. */
  isAsking() {
    return [...this.steps.values()].some((step) => step.asking);
  }

  /** The turn is over: nothing runs any more, and nothing waits for a decision. */
  settle() {
    for (const step of this.steps.values()) step.settle();
  }

  /** The chat is no longer shown: child chats stop streaming. */
  close() {
    for (const step of this.steps.values()) step.delegation?.close();
  }
}

class Step {
  constructor(callId, onDecide, files, nest) {
    this.callId = callId;
    this.onDecide = onDecide;
    this.files = files;
    this.nest = nest;
    this.run = null; // a run_code call's CodeRun
    this.delegation = null; // a delegate call's Delegation
    this.touched = false; // the reader opened or closed it: it stays as they left it
    this.started = false;
    this.finished = false;
    this.asking = false;
    this.approval = null; // the approval card while it asks: {el, allow, deny, error}
    const bodyId = `step-body-${++lastId}`;
    this.name = h("span", { class: "step-name", dataset: { testid: "step-name" } }, "tool");
    this.server = h("span", { class: "step-server", hidden: true, dataset: { testid: "step-server" } });
    this.title = h("span", { class: "step-title" }, this.name, this.server);
    this.status = h("span", { class: "step-status", dataset: { testid: "step-status" } });
    this.duration = h("span", { class: "step-duration", dataset: { testid: "step-duration" } });
    const toggle = () => {
      this.touched = true;
      this.expand(this.body.hidden);
    };
    this.toggle = h(
      "button",
      { type: "button", class: "step-toggle", "aria-expanded": "false", "aria-controls": bodyId, dataset: { testid: "step-toggle" }, onclick: toggle },
      h("span", { class: "step-icon", "aria-hidden": "true" }),
      this.title,
      this.status,
      this.duration,
    );
    this.args = h("pre", { class: "step-pre", tabindex: 0, dataset: { testid: "step-arguments" } });
    this.error = h("p", { class: "step-error", hidden: true, dataset: { testid: "step-error" } });
    this.result = h("pre", { class: "step-pre", tabindex: 0, hidden: true, dataset: { testid: "step-result" } });
    this.resultPart = h("div", { class: "step-part", hidden: true }, h("div", { class: "step-label" }, "Result"), this.error, this.result);
    this.argsPart = h("div", { class: "step-part" }, h("div", { class: "step-label" }, "Arguments"), this.args);
    this.out = new OutputPane();
    this.body = h("div", { id: bodyId, class: "step-body", hidden: true, dataset: { testid: "step-body" } }, this.argsPart, this.out.el, this.resultPart);
    this.el = h("div", { class: "step", role: "listitem", dataset: { testid: "step", callId } }, this.toggle, this.body);
    this.show("running");
  }

  expand(open) {
    this.body.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    this.delegation?.show(open);
  }

  show(state) {
    this.el.dataset.state = state;
    this.status.textContent = STATUS[state];
  }

  /** Take the call's name, server and arguments from any of its events. */
  describe(data) {
    if (typeof data.name === "string" && data.name) this.name.textContent = data.name;
    if (typeof data.server === "string") {
      this.server.textContent = data.server;
      this.server.hidden = !data.server || data.server === BUILT_IN;
    }
    if (!this.run && data.name === RUN_CODE && data.server === BUILT_IN) this.becomeCodeRun();
    if (!this.delegation && this.nest && data.name === DELEGATE && data.server === BUILT_IN) this.becomeDelegation();
    if (data.arguments !== undefined) {
      this.args.textContent = prettyJson(data.arguments);
      if (this.run) this.run.describe(data.arguments);
      if (this.delegation) this.delegation.describe(data.arguments);
    }
  }

  /** A delegate call: its title says to whom and what, the child chat replaces the arguments; open while it runs. */
  becomeDelegation() {
    this.delegation = this.nest();
    this.name.hidden = true;
    this.title.prepend(this.delegation.title);
    this.argsPart.replaceWith(this.delegation.el);
    this.el.dataset.kind = "delegate";
    if (!this.finished) this.expand(true);
  }

  /** `delegate.started` names the child chat; `delegate.finished` says it is over. */
  delegated(type, data) {
    if (!this.delegation) return; // drawn without nesting: the call's own line says enough
    if (type === "delegate.started") this.delegation.started(data);
    else this.delegation.finished(data);
  }

  /** A run_code call: its code replaces the arguments, its ending follows the output, its files go under the line; opened. */
  becomeCodeRun() {
    this.run = new CodeRun(this.files);
    this.argsPart.replaceWith(this.run.code);
    this.out.el.after(this.run.exit);
    this.el.append(this.run.changed);
    this.el.dataset.kind = "code";
    this.expand(true);
  }

  start(data) {
    this.describe(data);
    if (this.finished) return; // a finished call is never run again: this is its record replayed
    if (this.started) this.out.clear(); // run again after its worker died: only this run's output counts
    this.started = true;
    this.closeApproval();
    this.show("running");
  }

  output(data) {
    if (!this.finished) this.out.append(data.stream, data.text);
  }

  finish(data) {
    this.describe(data);
    this.finished = true;
    this.closeApproval();
    this.show(data.ok ? "ok" : "error");
    this.duration.textContent = formatDuration(data.duration_ms);
    const error = !data.ok && data.error ? String(data.error) : "";
    const result = data.result === undefined || data.result === null ? "" : asText(data.result);
    this.error.textContent = error;
    this.error.hidden = !error;
    this.result.textContent = result;
    this.result.hidden = !result || result === error || Boolean(this.run && this.out.hasOutput);
    this.resultPart.hidden = this.error.hidden && this.result.hidden;
    if (this.run) this.run.finish(data.details);
    if (this.delegation) {
      this.delegation.finished(data.details || {});
      this.result.hidden = this.result.hidden || data.ok; // the child's answer shows in its chat, above
      this.resultPart.hidden = this.error.hidden && this.result.hidden;
      if (!this.touched) this.expand(false); // over: collapsed unless the reader chose otherwise
    }
  }

  ask(data) {
    this.describe(data);
    if (this.finished || this.asking) return;
    this.asking = true;
    this.show("asking");
    this.approval = this.approvalCard(data.timeout_seconds);
    this.toggle.after(this.approval.el);
  }

  settle() {
    this.closeApproval();
    if (!this.finished && this.el.dataset.state !== "denied") this.show("interrupted");
    if (!this.finished) this.delegation?.finished({}); // the turn is over: its child's stream may close once it settles
  }

  approvalCard(timeoutSeconds) {
    const questionId = `step-question-${++lastId}`;
    const error = new ErrorBanner("step-approval-error");
    const allow = h("button", { type: "button", class: "button primary small", dataset: { testid: "step-allow" }, onclick: () => this.decide(true) }, "Allow");
    const deny = h("button", { type: "button", class: "button secondary small", dataset: { testid: "step-deny" }, onclick: () => this.decide(false) }, "Deny");
    const server = this.server.hidden ? "" : ` (${this.server.textContent})`;
    const el = h(
      "div",
      { class: "step-approval", role: "group", "aria-labelledby": questionId, dataset: { testid: "step-approval" } },
      h("p", { id: questionId, class: "step-question" }, "Soma asks to run ", h("strong", {}, this.name.textContent), server, ". Allow it?"),
      this.run
        ? h("div", { dataset: { testid: "step-approval-code" } }, this.run.view())
        : h("pre", { class: "step-pre", tabindex: 0, dataset: { testid: "step-approval-arguments" } }, this.args.textContent),
      Number.isFinite(timeoutSeconds) ? h("p", { class: "step-wait muted" }, `It waits up to ${formatDuration(timeoutSeconds * 1000)} for your answer.`) : null,
      error.el,
      this.onDecide ? h("div", { class: "step-decision" }, allow, deny) : null,
    );
    return { el, allow, deny, error };
  }

  /** POST the reader's decision; on a refusal the buttons stay and the server's words show. */
  async decide(allow) {
    const card = this.approval;
    card.allow.disabled = card.deny.disabled = true;
    card.error.hide();
    try {
      await this.onDecide(this.callId, allow);
    } catch (err) {
      if (this.approval !== card) return; // the call started or finished meanwhile
      card.allow.disabled = card.deny.disabled = false;
      card.error.show(err);
      return;
    }
    if (this.approval !== card) return;
    this.closeApproval();
    this.show(allow ? "allowed" : "denied");
  }

  /** Remove the approval card; focus inside it goes to the call's line rather than to the page. */
  closeApproval() {
    if (!this.asking) return;
    this.asking = false;
    const hadFocus = this.approval.el.contains(document.activeElement);
    this.approval.el.remove();
    this.approval = null;
    if (hadFocus) this.toggle.focus();
  }
}

/** Arguments as indented JSON: the SLM sends them as a JSON string, which may not parse. */
function prettyJson(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value ?? null, null, 2);
}

function asText(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

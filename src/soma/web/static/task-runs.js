// One task's run history on the Tasks page (GET /v1/tasks/{id}/runs, newest first): each run's due
// time, when it started and finished, its outcome, whether it ran late (after downtime) or by hand
// (Run now), a link to the chat it answered in, and, for a task with a webhook, how the delivery
// went. Each run is a small block rather than a table row, so the history fits a phone.
// Opening the history marks the task's finished runs read (POST /v1/tasks/{id}/read); the page
// reads it again while a run is still going.

import * as api from "./api.js";
import { h } from "./dom.js";
import { ErrorBanner, timeElement } from "./widgets.js";

const OUTCOMES = {
  running: { label: "Running", badge: "badge-indexing" },
  answered: { label: "Answered", badge: "badge-ready" },
  failed: { label: "Failed", badge: "badge-failed" },
  skipped: { label: "Skipped", badge: "badge-pending" },
};

export class RunHistory {
  /** @param {{task: object, onRead: () => void}} options  onRead: its finished runs were marked read */
  constructor({ task, onRead }) {
    this.task = task;
    this.onRead = onRead;
    this.runs = [];
    this.error = new ErrorBanner("task-runs-error");
    this.list = h("ol", { class: "run-list", "aria-busy": "true", "aria-label": `Runs of ${task.name}`, dataset: { testid: "task-run-list" } });
    this.el = h("div", { class: "task-runs", dataset: { testid: "task-runs" } }, this.error.el, this.list);
  }

  /** Whether a run shown is still going (the page then reads the history again soon). */
  isRunning() {
    return this.runs.some((run) => run.outcome === "running");
  }

  /** Read the runs, draw them, and mark them read when any finished one was unread. */
  async refresh() {
    let runs;
    try {
      runs = await api.listTaskRuns(this.task.id);
    } catch (err) {
      this.error.show(err);
      return;
    }
    this.error.hide();
    this.runs = runs;
    this.list.removeAttribute("aria-busy");
    this.list.replaceChildren(...runs.map((run) => runItem(run)));
    if (!runs.length) this.list.append(h("li", { class: "muted run-empty", dataset: { testid: "task-runs-empty" } }, "It has not run yet."));
    if (runs.some((run) => run.read === false && run.outcome !== "running")) {
      try {
        await api.markTaskRead(this.task.id);
        this.onRead();
      } catch (err) {
        this.error.show(err);
      }
    }
  }
}

function runItem(run) {
  const outcome = OUTCOMES[run.outcome] || { label: run.outcome, badge: "" };
  return h(
    "li",
    { class: "run", dataset: { testid: "task-run", runId: String(run.id), outcome: run.outcome } },
    h(
      "div",
      { class: "run-head" },
      h("span", { class: `badge ${outcome.badge}`, dataset: { testid: "task-run-outcome" } }, outcome.label),
      run.late ? h("span", { class: "badge badge-late", title: "It ran after its due time, having missed it while Soma was down", dataset: { testid: "task-run-late" } }, "Late") : null,
      run.manual ? h("span", { class: "badge", dataset: { testid: "task-run-manual" } }, "Run now") : null,
      run.session_id ? h("a", { class: "link run-chat", href: `#/chats/${run.session_id}`, dataset: { testid: "task-run-chat" } }, "Open the chat") : null,
    ),
    h(
      "dl",
      { class: "run-times" },
      moment("Due", run.due_at, "task-run-due"),
      moment("Started", run.started_at, "task-run-started"),
      moment("Finished", run.finished_at, "task-run-finished"),
    ),
    run.reason ? h("p", { class: "run-reason muted", dataset: { testid: "task-run-reason" } }, run.reason) : null,
    run.webhook ? webhookLine(run.webhook) : null,
  );
}

function moment(label, iso, testid) {
  return h("div", { class: "run-time" }, h("dt", {}, label), h("dd", { dataset: { testid } }, iso ? timeElement(iso) : "—"));
}

/** How the run's webhook delivery went: delivered, failed for good, or to be tried again (with why, and how often it was tried). */
function webhookLine({ attempts, status, error, delivered_at: deliveredAt }) {
  const tries = Number.isInteger(attempts) ? ` after ${attempts} ${attempts === 1 ? "attempt" : "attempts"}` : "";
  const why = error ? `: ${error}` : "";
  let text;
  if (deliveredAt) text = ["Webhook delivered ", timeElement(deliveredAt)];
  else if (status === "failed") text = [`Webhook failed${tries}${why}`];
  else if (status === "retrying") text = [`Webhook not delivered yet${tries}${why}; it will be tried again`];
  else text = ["Webhook waiting to be sent"];
  const state = deliveredAt ? "delivered" : status === "failed" || status === "retrying" ? status : "pending";
  return h("p", { class: "run-webhook", dataset: { testid: "task-run-webhook", state } }, ...text);
}

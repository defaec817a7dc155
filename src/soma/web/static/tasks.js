// The Tasks page: prompts Soma runs on a schedule (GET /v1/tasks). Each task shows its name, its
// schedule in words (schedule-words.js), its next run or that it is paused, how its last run went,
// and a badge counting the runs that finished since its history was last opened. Its actions:
// Pause or Resume, Run now, Edit (task-form.js, which also creates tasks), Runs (its history,
// task-runs.js, which marks them read), and Delete, which asks first. Members see their own tasks;
// admins see every task, and one of someone else's names its owner (by username, from GET
// /v1/users; an API key's task as "API key <id>").
//
// The page reads the list again every few seconds while a run is going, and now and then
// otherwise, so next runs, outcomes and badges stay current without a reload.

import * as api from "./api.js";
import { h } from "./dom.js";
import { describeSchedule } from "./schedule-words.js";
import { TaskForm } from "./task-form.js";
import { RunHistory } from "./task-runs.js";
import { confirmButton, ErrorBanner, pageFrame, timeElement } from "./widgets.js";

const BUSY_REFRESH_MS = 1500; // while a run is going: its outcome shows soon after it finishes
const IDLE_REFRESH_MS = 15000; // otherwise: next runs move on, scheduled runs finish
const TARGETS = { new_chat: "a new chat each time", same_chat: "one chat it keeps" };
const OUTCOMES = { running: "running", answered: "answered", failed: "failed", skipped: "skipped" };

export function createTasksPage(outlet) {
  return new TasksPage(outlet);
}

class TasksPage {
  constructor(outlet) {
    this.destroyed = false;
    this.timer = null;
    this.loading = null; // the refresh on its way
    this.again = false; // another was asked for meanwhile
    this.rows = new Map(); // task id → TaskRow, kept across refreshes (an open history stays open)
    this.owners = new Map(); // "user:<id>" → username, for admins: whose each task is
    const { root, body } = pageFrame({
      id: "tasks",
      title: "Tasks",
      description: "Prompts Soma runs on a schedule, each run a turn in a chat of its own or in one chat the task keeps.",
    });
    this.error = new ErrorBanner("tasks-error");
    this.status = h("span", { class: "form-status muted", role: "status", dataset: { testid: "tasks-status" } });
    this.form = new TaskForm({
      onSaved: (task) => {
        this.status.textContent = `Saved “${task.name}”.`;
        this.refresh();
      },
      onClose: () => this.newButton.focus(),
    });
    this.newButton = h("button", { type: "button", class: "button primary", dataset: { testid: "task-new" }, onclick: () => this.form.open(null) }, "New task");
    this.list = h("ul", { class: "item-list task-list", "aria-busy": "true", dataset: { testid: "tasks-list" } });
    this.empty = h(
      "div",
      { class: "list-empty", hidden: true, dataset: { testid: "tasks-empty" } },
      h("h3", {}, "No tasks yet"),
      h("p", { class: "muted" }, "Make one to have Soma answer a prompt every morning, every few minutes, or on the dates you pick."),
    );
    body.append(
      this.form.el,
      h(
        "section",
        { class: "card", "aria-labelledby": "tasks-list-title" },
        h("div", { class: "list-toolbar" }, h("h2", { id: "tasks-list-title", class: "card-title" }, api.isAdmin() ? "Every task" : "Your tasks"), this.status, this.newButton),
        this.error.el,
        this.list,
        this.empty,
      ),
    );
    outlet.append(root);
    this.loadProfiles();
    this.refresh(api.isAdmin() ? this.loadOwners() : null);
  }

  // ---- page interface (router.js) ----

  update() {}

  destroy() {
    this.destroyed = true;
    clearTimeout(this.timer);
  }

  // ---- data ----

  async loadProfiles() {
    try {
      this.form.setProfiles((await api.listProfiles()).map((profile) => profile.name));
    } catch (err) {
      if (!this.destroyed) this.error.show(err);
    }
  }

  /** Read the list (and the open histories) again; a call while one is on its way makes one more after it. */
  refresh(owners = null) {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.load(owners).finally(() => {
      this.loading = null;
      if (this.again && !this.destroyed) {
        this.again = false;
        this.refresh();
      }
    });
    return this.loading;
  }

  async loadOwners() {
    try {
      for (const user of await api.listUsers()) this.owners.set(`user:${user.id}`, user.username);
    } catch {
      // the tasks then name their owners as the server records them
    }
  }

  /** Who owns `task` in words, or null when it is the reader's own (or a member's list, all their own). */
  ownerOf(task) {
    if (!task.owner || !api.isAdmin()) return null;
    const name = this.owners.get(task.owner);
    if (name) return name === api.me.username ? null : name;
    const key = /^key:(.+)$/.exec(task.owner);
    return key ? `API key ${key[1]}` : task.owner;
  }

  async load(owners = null) {
    await owners; // the first time, for admins: the usernames, read alongside the tasks
    clearTimeout(this.timer);
    let tasks;
    try {
      tasks = await api.listTasks();
    } catch (err) {
      if (this.destroyed || api.isLockdown(err)) return; // locked down: the banner says it, and polling stops
      this.error.show(err);
      this.later(IDLE_REFRESH_MS);
      return;
    }
    if (this.destroyed) return;
    this.render(tasks);
    await Promise.all([...this.rows.values()].map((row) => row.runs?.refresh()));
    if (this.destroyed) return;
    const busy = [...this.rows.values()].some((row) => row.task.last_run?.outcome === "running" || row.runs?.isRunning());
    this.later(busy ? BUSY_REFRESH_MS : IDLE_REFRESH_MS);
  }

  later(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), delay);
  }

  render(tasks) {
    const seen = new Set();
    this.list.removeAttribute("aria-busy");
    for (const task of tasks) {
      seen.add(task.id);
      let row = this.rows.get(task.id);
      if (row) row.update(task);
      else {
        row = new TaskRow(task, this);
        this.rows.set(task.id, row);
      }
      this.list.append(row.el); // in the server's order
    }
    for (const [id, row] of this.rows) {
      if (seen.has(id)) continue;
      row.el.remove();
      this.rows.delete(id);
    }
    this.empty.hidden = tasks.length > 0;
  }
}

class TaskRow {
  constructor(task, page) {
    this.page = page;
    this.runs = null; // its RunHistory while open
    this.summary = h("div", { class: "item-main" });
    this.pauseButton = h("button", { type: "button", class: "button subtle", dataset: { testid: "task-pause" }, onclick: () => this.setPaused(!this.task.paused) });
    this.runsButton = h("button", { type: "button", class: "button subtle", "aria-expanded": "false", dataset: { testid: "task-runs-toggle" }, onclick: () => this.toggleRuns() }, "Runs");
    this.actions = h(
      "div",
      { class: "item-actions task-actions" },
      this.pauseButton,
      h("button", { type: "button", class: "button subtle", dataset: { testid: "task-run-now" }, onclick: () => this.runNow() }, "Run now"),
      h("button", { type: "button", class: "button subtle", dataset: { testid: "task-edit" }, onclick: () => page.form.open(this.task) }, "Edit"),
      this.runsButton,
      confirmButton({
        question: "Delete this task and its history?",
        testid: "task-delete",
        onConfirm: () => this.remove(),
        onError: (err) => page.error.show(err),
      }),
    );
    this.el = h("li", { class: "item task" }, h("div", { class: "task-line" }, this.summary, this.actions));
    this.update(task);
  }

  update(task) {
    this.task = task;
    Object.assign(this.el.dataset, { testid: "task-row", taskId: String(task.id), paused: String(task.paused) });
    const last = task.last_run;
    const ownerName = this.page.ownerOf(task);
    const owner = ownerName ? h("span", { dataset: { testid: "task-owner" } }, `Owner: ${ownerName}`) : null;
    this.summary.replaceChildren(
      h(
        "p",
        { class: "item-text task-title" },
        h("span", { class: "strong", dataset: { testid: "task-name" } }, task.name),
        task.paused ? h("span", { class: "badge badge-pending", dataset: { testid: "task-paused" } }, "Paused") : null,
        task.unread > 0 ? h("span", { class: "badge badge-unread", title: "Runs finished since you last opened its history", dataset: { testid: "task-unread" } }, `${task.unread} new`) : null,
      ),
      h("p", { class: "task-schedule", dataset: { testid: "task-schedule" } }, describeSchedule(task.schedule)),
      h(
        "p",
        { class: "item-meta muted" },
        h("span", { dataset: { testid: "task-next-run" } }, ...nextRun(task)),
        last ? h("span", { dataset: { testid: "task-last-run" } }, `Last run ${OUTCOMES[last.outcome] || last.outcome} `, last.due_at ? timeElement(last.due_at) : null) : null,
        h("span", { dataset: { testid: "task-profile" } }, `Profile: ${task.profile || "none"}`),
        h("span", {}, `In ${TARGETS[task.target] || task.target}`),
        task.target === "same_chat" && task.session_id ? h("a", { class: "link", href: `#/chats/${task.session_id}`, dataset: { testid: "task-chat" } }, "Its chat") : null,
        owner,
      ),
    );
    this.pauseButton.textContent = task.paused ? "Resume" : "Pause";
    this.pauseButton.dataset.testid = task.paused ? "task-resume" : "task-pause";
  }

  async setPaused(paused) {
    this.page.error.hide();
    try {
      this.update(await api.updateTask(this.task.id, { paused }));
      this.page.status.textContent = `${paused ? "Paused" : "Resumed"} “${this.task.name}”.`;
    } catch (err) {
      this.page.error.show(err);
    }
  }

  async runNow() {
    this.page.error.hide();
    try {
      await api.runTask(this.task.id);
    } catch (err) {
      this.page.error.show(err);
      return;
    }
    this.page.status.textContent = `Started a run of “${this.task.name}”.`;
    if (!this.runs) this.toggleRuns();
    this.page.refresh();
  }

  /** Open or shut its history; opening reads it, which marks its finished runs read. */
  toggleRuns() {
    if (this.runs) {
      this.runs.el.remove();
      this.runs = null;
    } else {
      this.runs = new RunHistory({
        task: this.task,
        onRead: () => this.update({ ...this.task, unread: 0 }),
      });
      this.el.append(this.runs.el);
      this.page.refresh();
    }
    this.runsButton.setAttribute("aria-expanded", String(Boolean(this.runs)));
  }

  async remove() {
    await api.deleteTask(this.task.id); // a refusal goes to confirmButton's onError
    this.page.status.textContent = `Deleted “${this.task.name}”.`;
    this.page.refresh();
  }
}

/** "Next run <time>", "Paused", or that nothing more is due. */
function nextRun(task) {
  if (task.paused) return ["Paused: no run until it is resumed"];
  if (task.next_run_at) return ["Next run ", timeElement(task.next_run_at)];
  return ["No run ahead"];
}

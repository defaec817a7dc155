// The Tasks page's form, to create a task or edit one: its name and prompt, the profile it runs
// with, its schedule (a cron expression with a time zone, every N seconds, or a list of dates and
// times), where it runs (a new chat each time, or one chat it keeps), what happens to runs missed
// while Soma was down, and an optional webhook. The server judges every value (the form is
// `novalidate`): a refusal (422 invalid_task, naming the field and why) shows in the form, and the
// field it names is outlined. A task made with a webhook comes back with its signing secret, shown
// here once; editing a task with a webhook offers a new secret, shown once too.
//
// Dates are picked in the reader's local time and sent as UTC ISO timestamps; the cron time zone
// starts as the browser's own.

import * as api from "./api.js";
import { h } from "./dom.js";
import { ErrorBanner, labelled, showSecret } from "./widgets.js";

const KINDS = [
  { value: "cron", label: "A cron expression" },
  { value: "every", label: "Every N seconds" },
  { value: "at", label: "On dates and times" },
];
const TARGETS = [
  { value: "new_chat", label: "A new chat each time" },
  { value: "same_chat", label: "One chat it keeps" },
];
const MISSED = [
  { value: "skip", label: "Skip them" },
  { value: "run_once", label: "Run once, marked late" },
];
const FIELDS = ["name", "prompt", "profile", "cron", "timezone", "every_seconds", "at", "target", "missed", "webhook_url"]; // as the server names them
const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

export class TaskForm {
  /** @param {{onSaved: (task: object) => void, onClose: () => void}} handlers  onSaved: the server stored it */
  constructor({ onSaved, onClose }) {
    this.onSaved = onSaved;
    this.onClose = onClose;
    this.task = null; // the task being edited; null for a new one
    const input = (key, props = {}) => h("input", { id: `task-${key}`, class: "input", autocomplete: "off", dataset: { testid: `task-form-${key}` }, ...props });
    const select = (key, options) => h("select", { id: `task-${key}`, class: "input input-select", dataset: { testid: `task-form-${key}` } }, ...options.map(({ value, label }) => h("option", { value }, label)));
    this.inputs = {
      name: input("name", { type: "text", placeholder: "e.g. Morning news digest" }),
      prompt: h("textarea", { id: "task-prompt", class: "input textarea", rows: 4, dataset: { testid: "task-form-prompt" } }),
      profile: select("profile", []),
      kind: select("kind", KINDS),
      cron: input("cron", { type: "text", spellcheck: "false", placeholder: "0 9 * * 1-5" }),
      timezone: input("timezone", { type: "text", spellcheck: "false", list: "task-timezones" }),
      every_seconds: input("every_seconds", { type: "number", class: "input input-number", min: 1, step: 1, inputmode: "numeric" }),
      target: select("target", TARGETS),
      missed: select("missed", MISSED),
      webhook_url: input("webhook_url", { type: "url", spellcheck: "false", placeholder: "https://example.com/hooks/soma" }),
    };
    this.dates = h("div", { class: "task-dates", dataset: { testid: "task-dates" } });
    this.inputs.kind.addEventListener("change", () => this.showKind());
    this.error = new ErrorBanner("task-form-error");
    this.secret = h("div", { class: "secret-box", hidden: true, dataset: { testid: "task-secret" } });
    this.title = h("h2", { id: "task-form-title", class: "card-title", tabindex: -1 }, "New task");
    this.saveButton = h("button", { type: "submit", class: "button primary", dataset: { testid: "task-save" } }, "Create task");
    this.rotateButton = h("button", { type: "button", class: "button secondary", hidden: true, dataset: { testid: "task-rotate-secret" }, onclick: () => this.rotate() }, "New webhook secret");
    const cancel = h("button", { type: "button", class: "button secondary", dataset: { testid: "task-cancel" }, onclick: () => this.close() }, "Cancel");
    this.kinds = {
      cron: h(
        "div",
        { class: "inline-fields" },
        labelled("task-cron", "Cron expression", this.inputs.cron, "Minute, hour, day of month, month, day of week; a sixth field, last, gives seconds."),
        labelled("task-timezone", "Time zone", this.inputs.timezone, "An IANA name, such as Europe/Paris."),
        h("datalist", { id: "task-timezones" }, ...timeZones().map((zone) => h("option", { value: zone }))),
      ),
      every: labelled("task-every_seconds", "Every (seconds)", this.inputs.every_seconds, "From the moment it is saved."),
      at: h(
        "div",
        { class: "field" },
        h("span", { class: "field-label" }, "Dates and times"),
        h("p", { class: "field-help muted" }, `In your time zone (${LOCAL_ZONE}); each runs once.`),
        this.dates,
        h("div", {}, h("button", { type: "button", class: "button subtle", dataset: { testid: "task-date-add" }, onclick: () => this.addDate("") }, "Add a date")),
      ),
    };
    this.form = h(
      "form",
      { class: "task-form", novalidate: true, "aria-labelledby": "task-form-title", dataset: { testid: "task-form" } },
      labelled("task-name", "Name", this.inputs.name),
      labelled("task-prompt", "Prompt", this.inputs.prompt, "What the agent is asked each time the task runs."),
      h(
        "div",
        { class: "inline-fields" },
        labelled("task-profile", "Profile", this.inputs.profile),
        labelled("task-kind", "Schedule", this.inputs.kind),
        labelled("task-target", "Runs in", this.inputs.target),
        labelled("task-missed", "Runs missed while Soma was down", this.inputs.missed),
      ),
      this.kinds.cron,
      this.kinds.every,
      this.kinds.at,
      labelled("task-webhook_url", "Webhook URL (optional)", this.inputs.webhook_url, "Each finished run is POSTed there, signed with the task's secret (X-Soma-Signature)."),
      this.error.el,
      h("div", { class: "form-actions-row" }, this.rotateButton, cancel, this.saveButton),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.el = h("section", { class: "card", hidden: true, "aria-labelledby": "task-form-title", dataset: { testid: "task-form-card" } }, this.title, this.secret, this.form);
  }

  /** Fill the profile choices (GET /v1/profiles), keeping a task's own even if it was deleted. */
  setProfiles(names) {
    this.profiles = names;
  }

  /** Open the form empty (null) or for `task`. */
  open(task) {
    this.task = task;
    const i = this.inputs;
    const names = [...new Set([...(this.profiles || []), ...(task && task.profile ? [task.profile] : [])])];
    i.profile.replaceChildren(...names.map((name) => h("option", { value: name }, name)));
    i.name.value = task ? task.name : "";
    i.prompt.value = task ? task.prompt : "";
    i.profile.value = task ? task.profile || "" : names.includes("assistant") ? "assistant" : names[0] || "";
    const schedule = task ? task.schedule : { cron: "0 9 * * *", timezone: LOCAL_ZONE };
    i.kind.value = "every_seconds" in schedule ? "every" : "at" in schedule ? "at" : "cron";
    i.cron.value = schedule.cron || "";
    i.timezone.value = schedule.timezone || LOCAL_ZONE;
    i.every_seconds.value = schedule.every_seconds ?? "";
    this.dates.replaceChildren();
    for (const at of schedule.at || []) this.addDate(localInput(at));
    if (!this.dates.childElementCount) this.addDate("");
    i.target.value = task ? task.target : "new_chat";
    i.missed.value = task ? task.missed : "skip";
    i.webhook_url.value = task?.webhook_url || "";
    this.rotateButton.hidden = !task?.webhook_url;
    this.title.textContent = task ? `Edit ${task.name}` : "New task";
    this.saveButton.textContent = task ? "Save changes" : "Create task";
    this.clearErrors();
    this.showKind();
    this.el.hidden = false;
    this.el.scrollIntoView({ block: "nearest" });
    i.name.focus();
  }

  close() {
    this.el.hidden = true;
    this.task = null;
    this.onClose();
  }

  showKind() {
    for (const [kind, el] of Object.entries(this.kinds)) el.hidden = kind !== this.inputs.kind.value;
  }

  addDate(value) {
    const date = h("input", { type: "datetime-local", class: "input task-date", step: 1, "aria-label": "Date and time", dataset: { testid: "task-date" } });
    date.value = value;
    const row = h("div", { class: "task-date-row" }, date);
    row.append(h("button", { type: "button", class: "button subtle", "aria-label": "Remove this date", onclick: () => row.remove() }, "Remove"));
    this.dates.append(row);
    if (!value) date.focus();
  }

  /** The task as the form says it (the fields PATCH and POST take). */
  read() {
    const i = this.inputs;
    const kind = i.kind.value;
    let schedule;
    if (kind === "cron") schedule = { cron: i.cron.value.trim(), timezone: i.timezone.value.trim() };
    else if (kind === "every") schedule = { every_seconds: i.every_seconds.value === "" ? null : Number(i.every_seconds.value) };
    else schedule = { at: [...this.dates.querySelectorAll("input")].filter((input) => input.value).map((input) => isoOf(input.value)) };
    return {
      name: i.name.value.trim(),
      prompt: i.prompt.value,
      profile: i.profile.value || null,
      schedule,
      target: i.target.value,
      missed: i.missed.value,
      webhook_url: i.webhook_url.value.trim() || null,
    };
  }

  async save() {
    if (this.saveButton.disabled) return;
    const task = this.read();
    this.saveButton.disabled = true;
    this.clearErrors();
    let saved;
    try {
      saved = this.task ? await api.updateTask(this.task.id, task) : await api.createTask(task);
    } catch (err) {
      this.error.show(err);
      this.markInvalid(err.message || "");
      return;
    } finally {
      this.saveButton.disabled = false;
    }
    if (saved.webhook_secret) this.showSecret(saved);
    this.el.hidden = !saved.webhook_secret; // the secret stays in view until Done
    this.form.hidden = Boolean(saved.webhook_secret);
    this.task = null;
    this.onSaved(saved);
  }

  /** A new signing secret for the edited task's webhook, shown once. */
  async rotate() {
    this.clearErrors();
    try {
      const saved = await api.updateTask(this.task.id, { rotate_webhook_secret: true });
      this.showSecret(saved);
      this.onSaved(saved);
    } catch (err) {
      this.error.show(err);
    }
  }

  showSecret(task) {
    showSecret(this.secret, { title: `The webhook secret of “${task.name}” — copy it now: it will not be shown again.`, value: task.webhook_secret, testid: "task-secret" });
    this.secret.querySelector('[data-testid="task-secret-done"]').addEventListener("click", () => {
      if (this.form.hidden) this.close();
    });
  }

  clearErrors() {
    this.error.hide();
    for (const input of [...Object.values(this.inputs), ...this.dates.querySelectorAll("input")]) input.removeAttribute("aria-invalid");
    this.form.hidden = false;
  }

  /** Outline the field the server's message names. */
  markInvalid(message) {
    const named = FIELDS.filter((key) => new RegExp(`\\b${key}\\b`).test(message));
    for (const key of named) {
      const inputs = key === "at" ? [...this.dates.querySelectorAll("input")] : [this.inputs[key]];
      for (const input of inputs) input?.setAttribute("aria-invalid", "true");
    }
  }
}

/** Every IANA time zone the browser knows, for the time zone field's suggestions. */
function timeZones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [LOCAL_ZONE];
  }
}

/** A datetime-local value (the reader's local time) as an ISO timestamp in UTC. */
function isoOf(local) {
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? local : date.toISOString();
}

/** An ISO timestamp as a datetime-local value, in the reader's local time. */
function localInput(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

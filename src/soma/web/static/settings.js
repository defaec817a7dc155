// The Settings page, in three tabs. General: one field per agent setting, saved with PUT /v1/settings.
// Tools (#/settings/tools): the tools and MCP servers the agent may call (tools.js). Profiles
// (#/settings/profiles): the agent profiles chats, tasks and delegations name (profiles.js). Those
// two are read only when their tab is first opened.
//
// Only the keys that changed are sent. The server is the judge of what is valid (the form is
// `novalidate`): its 422 message names every bad key and value, is shown as is, and changes
// nothing. An empty model or temperature means "use the default" and is sent as null.
// Members may read the settings but not change them: for them the form stays read-only. A setting
// this server does not know (GET /v1/meta does not list it) has no field.
// Below the form, the Backup card (backup.js) downloads and restores everything, and the Tunnel
// card (tunnel.js) opens Soma to the internet.
// Admins also get the Emergency stop card (emergency.js).

import * as api from "./api.js";
import { BackupCard } from "./backup.js";
import { EmergencyCard } from "./emergency.js";
import { h } from "./dom.js";
import { formatBytes, formatDuration } from "./format.js";
import { FieldErrors } from "./forms.js";
import { ProfilesCard } from "./profiles.js";
import { ToolsCard } from "./tools.js";
import { TunnelCard } from "./tunnel.js";
import { ErrorBanner, pageFrame, timeElement } from "./widgets.js";

const MiB = 1024 * 1024; // bytes; the Code settings give sizes in MiB

// Labels and help for soma.settings.store.AgentSettings; each field's bounds come from GET /v1/meta
// (`help` may be a function of them: {min, max, max_length, choices}); a `choice` field lists `choices`.
const SECTIONS = [
  {
    title: "Agent",
    fields: [
      { key: "system_prompt", kind: "text", label: "System prompt", help: "Sent first on every turn." },
      { key: "slm_model", kind: "string", label: "Model", help: "The model name to ask for. Empty uses SOMA_SLM_MODEL.", placeholder: "Default (SOMA_SLM_MODEL)" },
      { key: "temperature", kind: "number", label: "Temperature", help: ({ min, max }) => `Sampling temperature, ${min} to ${max}. Empty uses the model's default.`, step: 0.01, placeholder: "Default" },
    ],
  },
  {
    title: "Tools",
    fields: [
      { key: "tools_enabled", kind: "bool", label: "Offer tools", help: "Let the agent call tools: its own and those of the MCP servers in the Tools tab." },
      { key: "max_tool_steps", kind: "number", label: "Steps per turn", help: (bounds) => `At most this many requests to the model in one turn, each with the tool calls it asks for${range(bounds)}. The last one offers no tools, so every turn ends with an answer.`, step: 1 },
      {
        key: "tool_call_format",
        kind: "choice",
        label: "Tool call format",
        help: "How the model asks for tools: its own tool calls, or one JSON request in its text for models without them. Off offers no tools.",
        labels: { native: "Native tool calls", json: "JSON in the answer's text", off: "Off" },
      },
      { key: "tool_approval_timeout_seconds", kind: "number", label: "Approval wait, in seconds", help: (bounds) => `How long a call that asks first waits for Allow or Deny before it is denied${range(bounds)}.`, step: 1 },
    ],
  },
  {
    title: "Code",
    fields: [
      {
        key: "code_execution",
        kind: "choice",
        label: "Run code",
        help: "Let the agent run Python and shell code (the run_code tool) in the sandbox, with the chat's files. Code cannot run when the sandbox cannot start on this machine, whatever this says.",
        labels: { on: "On", off: "Off" },
      },
      {
        key: "sandbox_network",
        kind: "choice",
        label: "Network for code",
        help: "What running code may reach: no network at all, or the outside network.",
        labels: { none: "None", egress: "Outside network (egress)" },
      },
      { key: "sandbox_timeout_seconds", kind: "number", label: "Time limit, in seconds", help: (bounds) => `A run still going after this long is stopped${range(bounds)}.`, step: 1, describe: (s) => formatDuration(s * 1000) },
      { key: "sandbox_memory_mb", kind: "number", label: "Memory limit, in MiB", help: (bounds) => `The most memory one run may use${range(bounds)}.`, step: 1, describe: (mb) => formatBytes(mb * MiB) },
      {
        key: "workspace_max_mb",
        kind: "number",
        label: "Files per chat, in MiB",
        help: (bounds) => `The most one chat's files may hold together, attachments and what its code writes${range(bounds)}.`,
        step: 1,
        describe: (mb) => formatBytes(mb * MiB),
      },
    ],
  },
  {
    title: "Memory",
    fields: [
      { key: "memory_enabled", kind: "bool", label: "Use memory", help: "Recall memories into each turn and let the agent store new ones." },
      { key: "memory_recall_k", kind: "number", label: "Memories per turn", help: ({ min, max }) => `At most this many memories are recalled into a turn (${min} to ${max}).`, step: 1 },
      { key: "memory_threshold", kind: "number", label: "Recall threshold", help: ({ min, max }) => `The least cosine similarity for a memory to be recalled (${min} to ${max}).`, step: 0.01 },
    ],
  },
  {
    title: "Knowledge",
    fields: [
      { key: "knowledge_k", kind: "number", label: "Passages per turn", help: ({ min, max }) => `Passages from your files added to each turn (${min} to ${max}; 0: none).`, step: 1 },
      {
        key: "upload_max_bytes",
        kind: "number",
        label: "Largest upload, in bytes",
        help: ({ min, max }) => `Files above this size are refused (${formatBytes(min)} to ${formatBytes(max)}).`,
        step: 1,
        describe: formatBytes,
      },
    ],
  },
];
const LABELS = Object.fromEntries(SECTIONS.flatMap((section) => section.fields).map((field) => [field.key, field.label]));
const READ_ONLY = "Only admins can change the settings.";
const TABS = [
  { id: "general", label: "General", href: "#/settings" },
  { id: "tools", label: "Tools", href: "#/settings/tools" },
  { id: "profiles", label: "Profiles", href: "#/settings/profiles" },
];

/** " (1 to 50)" from a setting's bounds, or "" when it has none. */
function range({ min, max }) {
  if (min !== undefined && max !== undefined) return ` (${min} to ${max})`;
  if (min !== undefined) return ` (at least ${min})`;
  return max !== undefined ? ` (at most ${max})` : "";
}

export function createSettingsPage(outlet) {
  return new SettingsPage(outlet);
}

class SettingsPage {
  constructor(outlet) {
    this.saved = null; // the settings as the server last sent them
    this.inputs = new Map(); // key → input element
    this.notes = new Map(); // key → element describing the value (e.g. "20 MiB"), if any
    this.saving = false;
    this.justSaved = false; // "Saved." stays until the next change
    this.destroyed = false;
    this.readOnly = !api.isAdmin();
    // Only the settings this server knows (a newer page on an older gateway leaves the rest out).
    this.sections = SECTIONS.map((section) => ({ ...section, fields: section.fields.filter((field) => field.key in api.meta.settings) }));
    this.fields = this.sections.flatMap((section) => section.fields);
    this.tools = null; // the Tools tab's card, built when the tab is first opened
    this.profiles = null; // the Profiles tab's card, likewise
    this.build(outlet);
    this.load();
  }

  // ---- page interface (router.js) ----

  update({ tab }) {
    for (const { id } of TABS) {
      this.panels[id].hidden = id !== tab;
      if (id === tab) this.tabLinks[id].setAttribute("aria-current", "page");
      else this.tabLinks[id].removeAttribute("aria-current");
    }
    if (tab === "tools" && !this.tools) {
      this.tools = new ToolsCard();
      this.panels.tools.append(this.tools.el);
    }
    if (tab === "profiles" && !this.profiles) {
      this.profiles = new ProfilesCard();
      this.panels.profiles.append(this.profiles.el);
    }
  }

  destroy() {
    this.destroyed = true;
    this.backup.destroy();
    this.tunnel.destroy();
    if (this.tools) this.tools.destroy();
    if (this.profiles) this.profiles.destroy();
  }

  // ---- layout ----

  build(outlet) {
    this.version = h("span", { dataset: { testid: "settings-version" } });
    this.updatedAt = h("span", { dataset: { testid: "settings-updated" } });
    this.meta = h("p", { class: "sheet-meta muted", hidden: true }, this.version, " · last changed ", this.updatedAt);
    const { root, body } = pageFrame({
      id: "settings",
      title: "Settings",
      description: "How Soma answers. A change applies from the next turn.",
      aside: this.meta,
    });

    this.error = new ErrorBanner("settings-error");
    this.fieldErrors = new FieldErrors({}); // a refusal shows under the first field it names (markInvalid)
    this.status = h("span", { class: "form-status muted", role: "status", dataset: { testid: "settings-status" } });
    this.saveButton = h("button", { type: "submit", class: "button primary", disabled: true, dataset: { testid: "settings-save" } }, "Save");
    this.discardButton = h("button", { type: "button", class: "button secondary", disabled: true, dataset: { testid: "settings-discard" }, onclick: () => this.discard() }, "Discard changes");
    this.saveButton.hidden = this.discardButton.hidden = this.readOnly;
    this.fieldset = h("fieldset", { class: "settings-fields", disabled: true }, ...this.sections.filter((section) => section.fields.length).map((section) => this.buildSection(section)));
    this.form = h(
      "form",
      { class: "settings-form", novalidate: true, "aria-labelledby": "settings-title", dataset: { testid: "settings-form" } },
      this.fieldset,
      h("div", { class: "form-actions" }, this.error.el, h("div", { class: "form-actions-row" }, this.status, this.discardButton, this.saveButton)),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.form.addEventListener("input", () => this.onEdit());

    this.backup = new BackupCard({
      settingLabels: LABELS,
      onRestored: () => this.load(), // a restore may have overwritten the settings
    });

    this.tunnel = new TunnelCard();
    this.tabLinks = Object.fromEntries(TABS.map(({ id, label, href }) => [id, h("a", { href, class: "tab", dataset: { testid: `settings-tab-${id}` } }, label)]));
    this.panels = {
      general: h("div", { class: "tab-panel", dataset: { testid: "settings-general" } }, this.form, this.backup.el, this.tunnel.el),
      tools: h("div", { class: "tab-panel", hidden: true, dataset: { testid: "settings-tools-tab" } }),
      profiles: h("div", { class: "tab-panel", hidden: true, dataset: { testid: "settings-profiles-tab" } }),
    };
    if (!this.readOnly) this.panels.general.append(new EmergencyCard().el); // admins only: runbook 5 from the browser
    const tabs = h("nav", { class: "tabs", "aria-label": "Settings sections" }, h("ul", {}, ...TABS.map(({ id }) => h("li", {}, this.tabLinks[id]))));
    body.append(tabs, this.panels.general, this.panels.tools, this.panels.profiles);
    outlet.append(root);
  }

  buildSection({ title, fields }) {
    const id = `settings-${title.toLowerCase()}`;
    return h(
      "section",
      { class: "card", "aria-labelledby": id },
      h("h2", { id, class: "card-title" }, title),
      h("div", { class: "fields" }, ...fields.map((field) => this.buildField(field))),
    );
  }

  buildField(field) {
    const id = `setting-${field.key}`;
    const helpId = `${id}-help`;
    const bounds = api.meta.settings[field.key];
    const common = { id, name: field.key, "aria-describedby": helpId, dataset: { testid: id } };
    const help = h("p", { id: helpId, class: "field-help muted" }, typeof field.help === "function" ? field.help(bounds) : field.help);
    let input;
    if (field.kind === "bool") {
      input = h("input", { type: "checkbox", class: "checkbox", ...common });
      this.inputs.set(field.key, input);
      return h("div", { class: "field field-check" }, input, h("div", {}, h("label", { for: id, class: "field-label" }, field.label), help));
    }
    if (field.kind === "text") {
      input = h("textarea", { class: "input textarea", rows: 7, spellcheck: "true", ...common });
    } else if (field.kind === "choice" && bounds.choices) {
      input = h("select", { class: "input input-select", ...common }, ...bounds.choices.map((value) => h("option", { value }, field.labels[value] || value)));
    } else if (field.kind === "string" || field.kind === "choice") {
      input = h("input", { type: "text", class: "input", placeholder: field.placeholder, autocomplete: "off", spellcheck: "false", ...common });
    } else {
      input = h("input", {
        type: "number",
        class: "input input-number",
        min: bounds.min,
        max: bounds.max,
        step: field.step,
        placeholder: field.placeholder,
        inputmode: field.step === 1 ? "numeric" : "decimal",
        ...common,
      });
    }
    this.inputs.set(field.key, input);
    const note = field.describe || field.kind === "text" ? h("span", { class: "field-note muted", dataset: { testid: `${id}-note` } }) : null;
    if (note) this.notes.set(field.key, note);
    return h("div", { class: "field" }, h("label", { for: id, class: "field-label" }, field.label), help, h("div", { class: "field-control" }, input, note));
  }

  // ---- values ----

  async load() {
    let doc;
    try {
      doc = await api.getSettings();
    } catch (err) {
      if (!this.destroyed) this.error.show(err);
      return;
    }
    if (this.destroyed) return;
    this.show(doc);
    this.fieldset.disabled = this.readOnly;
  }

  /** Put a settings document from the server into the form and the header. */
  show(doc) {
    this.saved = doc.settings;
    for (const field of this.fields) this.write(field, doc.settings[field.key]);
    this.version.textContent = `Version ${doc.version}`;
    this.updatedAt.replaceChildren(timeElement(doc.updated_at));
    this.meta.hidden = false;
    this.onEdit();
  }

  write(field, value) {
    const input = this.inputs.get(field.key);
    if (field.kind === "bool") input.checked = Boolean(value);
    else input.value = value === null || value === undefined ? "" : String(value);
    input.removeAttribute("aria-invalid");
  }

  /** The value a field would send: null for an empty model, temperature or number. */
  read(field) {
    const input = this.inputs.get(field.key);
    if (field.kind === "bool") return input.checked;
    if (field.kind === "text") return input.value;
    if (field.kind === "string") return input.value.trim() || null;
    if (field.kind === "choice") return input.value;
    return input.value === "" ? null : Number(input.value);
  }

  changes() {
    const changes = {};
    if (!this.saved) return changes;
    for (const field of this.fields) {
      const value = this.read(field);
      if (value !== this.saved[field.key]) changes[field.key] = value;
    }
    return changes;
  }

  /** After any edit: mark changed fields, enable Save and Discard, say what is unsaved. */
  onEdit() {
    const changed = Object.keys(this.changes());
    if (changed.length) this.justSaved = false;
    for (const field of this.fields) {
      this.inputs.get(field.key).closest(".field").classList.toggle("field-changed", changed.includes(field.key));
      this.describe(field);
    }
    this.saveButton.disabled = this.discardButton.disabled = this.saving || changed.length === 0;
    if (this.readOnly) this.status.textContent = READ_ONLY;
    else if (this.saving) this.status.textContent = "Saving…";
    else if (changed.length) this.status.textContent = `${changed.length} unsaved ${changed.length === 1 ? "change" : "changes"}`;
    else this.status.textContent = this.justSaved ? "Saved." : "";
  }

  describe(field) {
    const note = this.notes.get(field.key);
    if (!note) return;
    const input = this.inputs.get(field.key);
    const maxChars = api.meta.settings[field.key].max_length;
    if (field.kind === "text") note.textContent = `${input.value.length.toLocaleString()} / ${maxChars.toLocaleString()} characters`;
    else note.textContent = input.value === "" ? "" : `= ${field.describe(Number(input.value))}`;
  }

  discard() {
    if (!this.saved) return;
    for (const field of this.fields) this.write(field, this.saved[field.key]);
    this.error.hide();
    this.justSaved = false;
    this.onEdit();
  }

  async save() {
    const changes = this.changes();
    if (this.saving || Object.keys(changes).length === 0) return;
    this.saving = true;
    this.error.hide();
    this.fieldErrors.clear();
    for (const input of this.inputs.values()) input.removeAttribute("aria-invalid");
    this.onEdit();
    let doc;
    try {
      doc = await api.updateSettings(changes);
    } catch (err) {
      if (this.destroyed) return;
      this.saving = false;
      const named = this.markInvalid(err.message || "", Object.keys(changes));
      if (named.length) this.fieldErrors.place(this.inputs.get(named[0]), err.message); // by the first field it names
      else this.error.show(err);
      this.onEdit();
      return;
    }
    if (this.destroyed) return;
    this.saving = false;
    this.justSaved = true;
    this.show(doc);
  }

  /** Outline the fields the server's message names (it quotes them: "'temperature': …"); returns their keys. */
  markInvalid(message, sent) {
    const named = sent.filter((key) => message.includes(`'${key}'`));
    for (const key of named) this.inputs.get(key).setAttribute("aria-invalid", "true");
    if (named.length) this.inputs.get(named[0]).scrollIntoView({ block: "center" }); // clear of the sticky Save bar
    return named;
  }
}

// Settings → Profiles: the agent profiles chats, tasks and `delegate` calls name (GET /v1/profiles).
// Each says what it is for, its model, the tools it may use and its steps per turn; what it leaves
// empty comes from the settings. Admins create, edit (PUT, the whole profile) and delete them; a
// profile a task still uses cannot be deleted, and the server's reason shows on the card. Members
// see the same list without the controls: they choose among these profiles for their chats and tasks.
//
// The tools are ticked from GET /v1/tools, by the function names a turn offers (a built-in's own
// name, `server__tool` for an MCP server's) plus `delegate`; a profile naming a tool that is not
// listed now keeps it, ticked, so saving never drops it silently. "Every tool" sends null.

import * as api from "./api.js";
import { h } from "./dom.js";
import { confirmButton, ErrorBanner, labelled } from "./widgets.js";

const BUILT_IN = "soma";
const DELEGATE = "delegate";
const READ_ONLY = "Only admins can change profiles.";

/** The function name a turn offers a tool by (what a profile's `tools` lists). */
const functionName = (tool) => (tool.server === BUILT_IN ? tool.name : `${tool.server}__${tool.name}`);

export class ProfilesCard {
  constructor() {
    this.admin = api.isAdmin();
    this.destroyed = false;
    this.editing = null; // the name of the profile in the form, null for a new one
    this.error = new ErrorBanner("profiles-error");
    this.status = h("span", { class: "form-status muted", role: "status", dataset: { testid: "profiles-status" } });
    this.list = h("ul", { class: "item-list", "aria-busy": "true", dataset: { testid: "profiles-list" } });
    this.newButton = h("button", { type: "button", class: "button secondary", dataset: { testid: "profile-new" }, onclick: () => this.openForm(null) }, "New profile");
    this.title = h("h2", { id: "profiles-title", class: "card-title", tabindex: -1 }, "Profiles");
    this.el = h(
      "section",
      { class: "card profiles", "aria-labelledby": "profiles-title", dataset: { testid: "settings-profiles" } },
      h("div", { class: "list-toolbar" }, this.title, this.status, this.admin ? this.newButton : null),
      h(
        "p",
        { class: "muted card-lede" },
        "Who a chat's agent is: a prompt added to the settings' own, and the model, tools and steps it may use (empty: as the settings say). " +
          "A new chat, a task and a delegated sub-task each name one; the agent reads the descriptions to choose whom to delegate to.",
      ),
      this.error.el,
      this.list,
      this.admin ? this.buildForm() : h("p", { class: "muted", dataset: { testid: "profiles-read-only" } }, READ_ONLY),
    );
    this.refresh();
  }

  destroy() {
    this.destroyed = true;
  }

  async refresh() {
    let profiles;
    try {
      profiles = await api.listProfiles();
    } catch (err) {
      if (!this.destroyed) this.error.show(err);
      return;
    }
    if (this.destroyed) return;
    this.profiles = profiles;
    this.list.removeAttribute("aria-busy");
    this.list.replaceChildren(...profiles.map((profile) => this.item(profile)));
    if (!profiles.length) this.list.append(h("li", { class: "muted list-empty" }, "No profiles: new chats run on the settings alone."));
  }

  item(profile) {
    const tools = profile.tools === null ? "Every tool" : profile.tools.length ? profile.tools.join(", ") : "No tools";
    return h(
      "li",
      { class: "item profile", dataset: { testid: "profile-row", profile: profile.name } },
      h(
        "div",
        { class: "item-main" },
        h("p", { class: "item-text profile-name", dataset: { testid: "profile-name" } }, profile.name),
        profile.description ? h("p", { class: "muted profile-description", dataset: { testid: "profile-description" } }, profile.description) : null,
        h(
          "p",
          { class: "item-meta muted", dataset: { testid: "profile-meta" } },
          h("span", {}, `Model: ${profile.model || "from the settings"}`),
          h("span", {}, `Steps: ${profile.max_tool_steps ?? "from the settings"}`),
          h("span", { class: "profile-tools", dataset: { testid: "profile-tools" } }, `Tools: ${tools}`),
        ),
      ),
      this.admin
        ? h(
            "div",
            { class: "item-actions" },
            h("button", { type: "button", class: "button subtle", "aria-label": `Edit ${profile.name}`, dataset: { testid: "profile-edit" }, onclick: () => this.openForm(profile) }, "Edit"),
            confirmButton({
              name: `Delete ${profile.name}`,
              question: `Delete ${profile.name}?`,
              testid: "profile-delete",
              onConfirm: () => this.remove(profile.name),
              onError: (err) => this.error.show(err),
            }),
          )
        : null,
    );
  }

  async remove(name) {
    await api.deleteProfile(name); // a refusal (409 profile_in_use) goes to confirmButton's onError
    this.error.hide();
    this.status.textContent = `Deleted ${name}.`;
    if (this.editing === name) this.closeForm();
    await this.refresh();
    this.title.focus(); // its Delete button is gone
  }

  // ---- the form (admins) ----

  buildForm() {
    const input = (id, props = {}) => h("input", { id, class: "input", autocomplete: "off", spellcheck: "false", dataset: { testid: id }, ...props });
    const bounds = api.meta.settings?.max_tool_steps || {};
    this.fields = {
      name: input("profile-form-name", { type: "text", placeholder: "e.g. translator" }),
      description: h("textarea", { id: "profile-form-description", class: "input textarea", rows: 2, dataset: { testid: "profile-form-description" } }),
      system_prompt: h("textarea", { id: "profile-form-system-prompt", class: "input textarea", rows: 6, dataset: { testid: "profile-form-system-prompt" } }),
      model: input("profile-form-model", { type: "text", placeholder: "The settings' model" }),
      max_tool_steps: input("profile-form-max-tool-steps", { type: "number", class: "input input-number", min: bounds.min, max: bounds.max, step: 1, inputmode: "numeric", placeholder: "The settings'" }),
    };
    this.allTools = h("input", { type: "checkbox", class: "checkbox", id: "profile-form-all-tools", dataset: { testid: "profile-form-all-tools" } });
    this.allTools.addEventListener("change", () => this.syncTools());
    this.toolBoxes = h("div", { class: "profile-tool-list", dataset: { testid: "profile-form-tools" } });
    this.formError = new ErrorBanner("profile-form-error");
    this.formTitle = h("h3", { id: "profile-form-title", class: "inline-form-title", tabindex: -1 }, "New profile");
    this.saveButton = h("button", { type: "submit", class: "button primary", dataset: { testid: "profile-form-save" } }, "Create profile");
    const cancel = h("button", { type: "button", class: "button secondary", dataset: { testid: "profile-form-cancel" }, onclick: () => this.closeForm() }, "Cancel");
    this.form = h(
      "form",
      { class: "inline-form profile-form", novalidate: true, hidden: true, "aria-labelledby": "profile-form-title", dataset: { testid: "profile-form" } },
      this.formTitle,
      h(
        "div",
        { class: "inline-fields" },
        labelled("profile-form-name", "Name", this.fields.name, "Lower-case letters, digits, - and _. It cannot change later."),
        labelled("profile-form-model", "Model", this.fields.model, "Empty: the settings' model."),
        labelled("profile-form-max-tool-steps", "Steps per turn", this.fields.max_tool_steps, "Empty: the settings' steps per turn."),
      ),
      labelled("profile-form-description", "Description", this.fields.description, "What it is good at: the agent reads this to choose whom to delegate to."),
      labelled("profile-form-system-prompt", "System prompt", this.fields.system_prompt, "Added after the settings' system prompt on its chats' turns."),
      h(
        "fieldset",
        { class: "field scope-choices" },
        h("legend", { class: "field-label" }, "Tools"),
        h("label", { for: "profile-form-all-tools", class: "scope-choice" }, this.allTools, h("span", {}, "Every tool the chat may use (as the settings and the Tools tab allow)")),
        this.toolBoxes,
      ),
      this.formError.el,
      h("div", { class: "form-actions-row" }, cancel, this.saveButton),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    return this.form;
  }

  /** Open the form for a new profile (null) or to edit `profile`. */
  async openForm(profile) {
    this.editing = profile ? profile.name : null;
    this.formError.hide();
    const f = this.fields;
    f.name.value = profile ? profile.name : "";
    f.name.disabled = Boolean(profile);
    f.description.value = profile ? profile.description : "";
    f.system_prompt.value = profile ? profile.system_prompt : "";
    f.model.value = profile?.model || "";
    f.max_tool_steps.value = profile?.max_tool_steps ?? "";
    for (const field of Object.values(f)) field.removeAttribute("aria-invalid");
    this.formTitle.textContent = profile ? `Edit ${profile.name}` : "New profile";
    this.saveButton.textContent = profile ? "Save changes" : "Create profile";
    this.allTools.checked = !profile || profile.tools === null;
    this.form.hidden = false;
    (profile ? f.description : f.name).focus();
    this.form.scrollIntoView({ block: "nearest" });
    await this.drawTools(profile ? profile.tools : null);
  }

  closeForm() {
    this.form.hidden = true;
    this.editing = null;
  }

  /** Tick boxes for every tool a turn may offer, `chosen` ticked (with those not listed now). */
  async drawTools(chosen) {
    let names = [DELEGATE];
    try {
      const { tools } = await api.listTools();
      names = [...new Set([...tools.map(functionName), DELEGATE])];
    } catch (err) {
      this.formError.show(err); // the profile can still be saved with "Every tool", or its current list
    }
    const ticked = new Set(chosen || []);
    names = [...new Set([...names, ...ticked])].sort();
    this.toolBoxes.replaceChildren(
      ...names.map((name, index) => {
        const id = `profile-form-tool-${index}`;
        const box = h("input", { type: "checkbox", class: "checkbox", id, value: name, checked: ticked.has(name), dataset: { testid: "profile-tool", tool: name } });
        return h("label", { for: id, class: "scope-choice" }, box, h("code", {}, name));
      }),
    );
    this.syncTools();
  }

  /** "Every tool" ticked: the list does not apply. */
  syncTools() {
    for (const box of this.toolBoxes.querySelectorAll("input")) box.disabled = this.allTools.checked;
    this.toolBoxes.hidden = this.allTools.checked;
  }

  read() {
    const f = this.fields;
    const steps = f.max_tool_steps.value.trim();
    return {
      name: f.name.value.trim(),
      description: f.description.value,
      system_prompt: f.system_prompt.value,
      model: f.model.value.trim() || null,
      tools: this.allTools.checked ? null : [...this.toolBoxes.querySelectorAll("input:checked")].map((box) => box.value),
      max_tool_steps: steps === "" ? null : Number(steps),
    };
  }

  async save() {
    if (this.saveButton.disabled) return;
    const profile = this.read();
    const editing = this.editing;
    this.saveButton.disabled = true;
    this.formError.hide();
    for (const field of Object.values(this.fields)) field.removeAttribute("aria-invalid");
    try {
      if (editing) await api.replaceProfile(editing, profile);
      else await api.createProfile(profile);
    } catch (err) {
      this.formError.show(err);
      for (const [key, field] of Object.entries(this.fields)) if ((err.message || "").includes(`'${key}'`)) field.setAttribute("aria-invalid", "true"); // the server quotes the field
      return;
    } finally {
      this.saveButton.disabled = false;
    }
    this.status.textContent = editing ? `Saved ${editing}.` : `Created ${profile.name}.`;
    this.closeForm();
    await this.refresh();
  }
}

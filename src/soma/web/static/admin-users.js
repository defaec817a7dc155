// The Admin page's Users card: everyone who may log in, a form to add someone, and per person
// Disable/Enable and Reset password. Disabling someone or resetting their password ends their
// sessions at once; you cannot disable yourself here (another admin can).

import * as api from "./api.js";
import { h } from "./dom.js";
import { FieldErrors } from "./forms.js";
import { ErrorBanner, confirmButton, labelled, scrollRegion, timeElement } from "./widgets.js";


export class UsersSection {
  /** @param {{onChange: () => void}} handlers  onChange: after any change the server accepted */
  constructor({ onChange }) {
    this.onChange = onChange;
    this.destroyed = false;
    this.error = new ErrorBanner("admin-users-error");
    this.status = h("span", { class: "form-status muted", role: "status", dataset: { testid: "admin-users-status" } });
    this.tbody = h("tbody", { "aria-busy": "true", dataset: { testid: "admin-users-list" } }); // until the first answer
    this.el = h(
      "section",
      { class: "card", "aria-labelledby": "admin-users-title", dataset: { testid: "admin-users" } },
      h("h2", { id: "admin-users-title", class: "card-title" }, "Users"),
      h("p", { class: "muted card-lede" }, "People who log in to this web UI. Admins may change everything; members chat and read the agent's memory, knowledge and settings."),
      this.error.el,
      h(
        "div",
        scrollRegion("admin-users-title"),
        h(
          "table",
          { class: "data-table", "aria-labelledby": "admin-users-title" },
          h(
            "thead",
            {},
            h("tr", {}, ...["Username", "Role", "State", "Created"].map((name) => h("th", { scope: "col" }, name)), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions"))),
          ),
          this.tbody,
        ),
      ),
      this.buildForm(),
    );
    this.load();
  }

  destroy() {
    this.destroyed = true;
  }

  buildForm() {
    this.username = h("input", { type: "text", id: "admin-user-username", class: "input", autocomplete: "off", spellcheck: "false", required: true, dataset: { testid: "admin-user-username" } });
    this.password = h("input", { type: "password", id: "admin-user-password", class: "input", autocomplete: "new-password", required: true, dataset: { testid: "admin-user-password" } });
    this.role = h("select", { id: "admin-user-role", class: "input", dataset: { testid: "admin-user-role-select" } }, ...api.meta.users.roles.map((role) => h("option", { value: role }, role)));
    this.role.value = api.meta.users.default_role;
    this.createButton = h("button", { type: "submit", class: "button primary", dataset: { testid: "admin-user-create" } }, "Add user");
    this.fieldErrors = new FieldErrors(
      { username: this.username, password: this.password, role: this.role },
      { weak_password: "password", password_too_long: "password", invalid_user: "username", username_taken: "username" },
    );
    const form = h(
      "form",
      { class: "inline-form", novalidate: true, "aria-labelledby": "admin-user-form-title", dataset: { testid: "admin-user-form" } },
      h("h3", { id: "admin-user-form-title", class: "inline-form-title" }, "Add a user"),
      h(
        "div",
        { class: "inline-fields" },
        labelled("admin-user-username", "Username", this.username),
        labelled("admin-user-password", "Password", this.password, `At least ${api.meta.passwords.min_length} characters; tell it to them yourself.`),
        labelled("admin-user-role", "Role", this.role),
      ),
      h("div", { class: "form-actions-row" }, this.status, this.createButton),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    return form;
  }

  async load() {
    let users;
    try {
      users = await api.listUsers();
    } catch (err) {
      if (!this.destroyed) this.error.show(err);
      return;
    } finally {
      this.tbody.removeAttribute("aria-busy");
    }
    if (this.destroyed) return;
    this.tbody.replaceChildren(...users.map((user) => this.row(user)));
  }

  async create() {
    this.error.hide();
    this.fieldErrors.clear();
    this.status.textContent = "";
    this.createButton.disabled = true;
    try {
      const user = await api.createUser({ username: this.username.value.trim(), password: this.password.value, role: this.role.value });
      if (this.destroyed) return;
      this.username.value = this.password.value = "";
      this.role.value = api.meta.users.default_role;
      this.status.textContent = `Added ${user.username} (${user.role}).`;
      this.tbody.append(this.row(user));
      this.onChange();
    } catch (err) {
      if (!this.destroyed && !this.fieldErrors.show(err)) this.error.show(err);
    } finally {
      this.createButton.disabled = false;
    }
  }

  /** One user's table row; it redraws itself after a change. */
  row(user) {
    const el = h("tr", { dataset: { testid: "admin-user-row", username: user.username } });
    const draw = (u) => {
      const disabled = u.disabled_at !== null;
      el.dataset.state = disabled ? "disabled" : "active";
      el.replaceChildren(
        h("td", { class: "strong" }, h("span", { dataset: { testid: "admin-user-name" } }, u.username), u.username === api.me.username ? h("span", { class: "muted you" }, " (you)") : null, signInBadge(u)),
        h("td", { dataset: { testid: "admin-user-role" } }, u.role),
        h("td", {}, h("span", { class: `badge ${disabled ? "badge-failed" : "badge-ready"}`, dataset: { testid: "admin-user-state" } }, disabled ? "Disabled" : "Active")),
        h("td", { class: "muted nowrap" }, timeElement(u.created_at)),
        h("td", { class: "row-actions" }, ...this.actions(u, draw)),
      );
    };
    draw(user);
    return el;
  }

  actions(user, draw) {
    const change = async (changes, done) => {
      this.error.hide();
      const updated = await api.updateUser(user.id, changes);
      if (this.destroyed) return;
      this.status.textContent = done(updated);
      draw(updated);
      this.onChange();
    };
    const reset = h("button", { type: "button", class: "button subtle", dataset: { testid: "admin-user-reset" } }, "Reset password");
    reset.addEventListener("click", () => reset.parentElement.replaceChildren(this.resetForm(user, change, () => draw(user))));
    if (user.username === api.me.username) return [reset]; // disabling yourself would lock you out
    if (user.disabled_at !== null) {
      const enable = h("button", { type: "button", class: "button subtle", dataset: { testid: "admin-user-enable" } }, "Enable");
      enable.addEventListener("click", async () => {
        enable.disabled = true;
        try {
          await change({ disabled: false }, (u) => `${u.username} may log in again.`);
        } catch (err) {
          enable.disabled = false;
          this.error.show(err);
        }
      });
      return [reset, enable];
    }
    const disable = confirmButton({
      label: "Disable",
      question: `Disable ${user.username}? Their sessions end now.`,
      testid: "admin-user-disable",
      onConfirm: () => change({ disabled: true }, (u) => `${u.username} is disabled; their sessions ended.`),
      onError: (err) => this.error.show(err),
    });
    return [reset, disable];
  }

  /** In place of a row's buttons: a new password, Save and Cancel. */
  resetForm(user, change, cancel) {
    const input = h("input", { type: "password", class: "input input-inline", autocomplete: "new-password", "aria-label": `New password for ${user.username}`, placeholder: "New password", dataset: { testid: "admin-user-reset-password" } });
    const save = h("button", { type: "submit", class: "button primary small", dataset: { testid: "admin-user-reset-save" } }, "Set password");
    const form = h(
      "form",
      { class: "row-form", novalidate: true },
      input,
      save,
      h("button", { type: "button", class: "button subtle small", dataset: { testid: "admin-user-reset-cancel" }, onclick: cancel }, "Cancel"),
    );
    const fieldErrors = new FieldErrors({ password: input }, { weak_password: "password", password_too_long: "password" });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      fieldErrors.clear();
      try {
        await change({ password: input.value }, (u) => `${u.username}'s password is reset; their sessions ended.`);
      } catch (err) {
        save.disabled = false;
        if (!fieldErrors.show(err)) this.error.show(err);
      }
    });
    queueMicrotask(() => input.focus());
    return form;
  }
}

/** How an account signs in, when not with an ordinary password: a break-glass admin stands out (its logins are audited `auth.login`). */
function signInBadge(user) {
  const kind = user.break_glass ? "break-glass" : user.sso ? "SSO" : user.email ? "invited" : null;
  return kind ? h("span", { class: "badge badge-sign-in", dataset: { testid: "admin-user-sign-in" }, title: `Signs in: ${kind}` }, kind) : null;
}

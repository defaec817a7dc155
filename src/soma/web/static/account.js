// The account corner of the top bar: who is logged in, Log out, and a dialog to change the
// password. Both end the session (a new password ends every session), so both lead to /login.

import * as api from "./api.js";
import { h } from "./dom.js";
import { FieldErrors } from "./forms.js";

const LOGIN_PAGE = "/login";

/**
 * Fill the top bar's account corner for `me` (from GET /v1/auth/me).
 * @param {HTMLElement} container
 * @param {{username: string, role: string}} me
 */
export function renderAccount(container, me) {
  const dialog = new PasswordDialog();
  const logoutButton = h("button", { type: "button", class: "button subtle", dataset: { testid: "logout" } }, "Log out");
  logoutButton.addEventListener("click", async () => {
    logoutButton.disabled = true;
    let next = LOGIN_PAGE;
    try {
      // A single sign-on session ends at the provider too, which then sends the browser back to the login page.
      next = (await api.logout()).end_session_url || LOGIN_PAGE;
    } catch {
      // logged out already, or the gateway is away: the login page says which
    }
    location.replace(next);
  });
  container.replaceChildren(
    h(
      "span",
      { class: "account-who", title: `Logged in as ${me.username} (${me.role})` },
      h("span", { class: "account-name", dataset: { testid: "account-name" } }, me.username),
      h("span", { class: `badge badge-role-${me.role}`, dataset: { testid: "account-role" } }, me.role),
    ),
    h("button", { type: "button", class: "button subtle", dataset: { testid: "change-password" }, onclick: () => dialog.open() }, "Change password"),
    logoutButton,
    dialog.el,
  );
}

/** A modal form: the current password, the new one twice; the server's message on failure. */
class PasswordDialog {
  constructor() {
    const minChars = api.meta.passwords.min_length; // a hint: the server has the last word
    this.current = h("input", { type: "password", class: "input", name: "current", autocomplete: "current-password", required: true, dataset: { testid: "password-current" } });
    this.next = h("input", { type: "password", class: "input", name: "new", autocomplete: "new-password", minlength: minChars, required: true, dataset: { testid: "password-new" } });
    this.again = h("input", { type: "password", class: "input", name: "again", autocomplete: "new-password", required: true, dataset: { testid: "password-again" } });
    this.error = h("p", { class: "dialog-error", role: "alert", hidden: true, dataset: { testid: "password-error" } });
    this.submit = h("button", { type: "submit", class: "button primary", dataset: { testid: "password-submit" } }, "Change password");
    this.fieldErrors = new FieldErrors(
      { current_password: this.current, new_password: this.next },
      { wrong_password: "current_password", weak_password: "new_password", password_too_long: "new_password" },
    );
    this.form = h(
      "form",
      { class: "dialog-form", novalidate: true },
      h("h2", { id: "password-title", class: "dialog-title" }, "Change your password"),
      h("p", { class: "muted dialog-lede" }, `At least ${minChars} characters. Every session of yours ends, this one too: log in again afterwards.`),
      field("Current password", this.current),
      field("New password", this.next),
      field("New password again", this.again),
      this.error,
      h(
        "div",
        { class: "form-actions-row" },
        h("button", { type: "button", class: "button secondary", dataset: { testid: "password-cancel" }, onclick: () => this.el.close() }, "Cancel"),
        this.submit,
      ),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.el = h("dialog", { class: "dialog", "aria-labelledby": "password-title", dataset: { testid: "password-dialog" } }, this.form);
  }

  open() {
    this.form.reset();
    this.error.hidden = true;
    this.fieldErrors.clear();
    this.submit.disabled = false;
    this.el.showModal();
    this.current.focus();
  }

  async save() {
    this.error.hidden = true;
    this.fieldErrors.clear();
    if (this.next.value !== this.again.value) {
      this.showError("The two new passwords differ.");
      this.again.focus();
      return;
    }
    this.submit.disabled = true;
    try {
      await api.changePassword(this.current.value, this.next.value);
    } catch (err) {
      this.submit.disabled = false;
      if (!this.fieldErrors.show(err)) this.showError(err.message);
      return;
    }
    location.replace(LOGIN_PAGE);
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = false;
  }
}

function field(label, input) {
  return h("label", { class: "dialog-field" }, h("span", { class: "field-label" }, label), input);
}

// The Admin page's API keys card: the keys scripts and integrations use, newest first, each
// shown by its prefix only; a form to create one; Revoke per key; and the emergency switch that
// revokes them all. A new key is shown once, right after it is made, in a box with a Copy
// button: the server keeps only its digest, so nobody can see it again.

import * as api from "./api.js";
import { h } from "./dom.js";
import { FieldErrors } from "./forms.js";
import { ErrorBanner, confirmButton, labelled, scrollRegion, showSecret, timeElement } from "./widgets.js";

/** Whether the form starts with this scope ticked; the scopes, and what each allows, come from GET /v1/meta too. */
const startsChecked = (name) => api.meta.api_keys.default_scopes.includes(name);

export class KeysSection {
  /** @param {{onChange: () => void}} handlers  onChange: after any change the server accepted */
  constructor({ onChange }) {
    this.onChange = onChange;
    this.destroyed = false;
    this.error = new ErrorBanner("admin-keys-error");
    this.status = h("span", { class: "form-status muted", role: "status", dataset: { testid: "admin-keys-status" } });
    this.secret = h("div", { class: "secret-box", hidden: true, dataset: { testid: "admin-new-key" } });
    this.tbody = h("tbody", { "aria-busy": "true", dataset: { testid: "admin-keys-list" } }); // until the first answer
    this.empty = h("p", { class: "muted list-empty", hidden: true, dataset: { testid: "admin-keys-empty" } }, "No API keys yet.");
    this.el = h(
      "section",
      { class: "card", "aria-labelledby": "admin-keys-title", dataset: { testid: "admin-keys" } },
      h("h2", { id: "admin-keys-title", class: "card-title" }, "API keys"),
      h("p", { class: "muted card-lede" }, "For the command line, scripts and integrations: sent as Authorization: Bearer <key>. Each key is shown once, when it is created."),
      this.error.el,
      this.secret,
      h(
        "div",
        scrollRegion("admin-keys-title"),
        h(
          "table",
          { class: "data-table", "aria-labelledby": "admin-keys-title" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...["Key", "Name", "Scopes", "Created", "Last used", "State"].map((name) => h("th", { scope: "col" }, name)),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
            ),
          ),
          this.tbody,
        ),
      ),
      this.empty,
      this.buildForm(),
      this.buildEmergency(),
    );
    this.load();
  }

  destroy() {
    this.destroyed = true;
  }

  buildForm() {
    this.name = h("input", { type: "text", id: "admin-key-name", class: "input", autocomplete: "off", placeholder: "e.g. backup script on nas01", required: true, dataset: { testid: "admin-key-new-name" } });
    this.scopes = new Map(
      api.meta.api_keys.scopes.map(({ name }) => [name, h("input", { type: "checkbox", class: "checkbox", id: `admin-key-scope-${name}`, value: name, checked: startsChecked(name), dataset: { testid: `admin-key-scope-${name}` } })]),
    );
    this.expires = h("input", { type: "number", id: "admin-key-expires", class: "input input-number", min: 1, step: 1, inputmode: "numeric", placeholder: "Never", dataset: { testid: "admin-key-expires" } });
    this.createButton = h("button", { type: "submit", class: "button primary", dataset: { testid: "admin-key-create" } }, "Create key");
    // A refusal shows by its field: the scopes' (under the first box, within their fieldset), the name's, the expiry's.
    this.fieldErrors = new FieldErrors({ name: this.name, scopes: [...this.scopes.values()][0], expires_days: this.expires });
    const scopes = h(
      "fieldset",
      { class: "field scope-choices" },
      h("legend", { class: "field-label" }, "Scopes"),
      ...api.meta.api_keys.scopes.map(({ name, help }) =>
        h("label", { for: `admin-key-scope-${name}`, class: "scope-choice" }, this.scopes.get(name), h("span", {}, h("code", {}, name), " ", h("span", { class: "muted" }, help))),
      ),
    );
    const form = h(
      "form",
      { class: "inline-form", novalidate: true, "aria-labelledby": "admin-key-form-title", dataset: { testid: "admin-key-form" } },
      h("h3", { id: "admin-key-form-title", class: "inline-form-title" }, "Create a key"),
      h(
        "div",
        { class: "inline-fields" },
        labelled("admin-key-name", "Name", this.name, "Say what uses it, to know what breaks when it is revoked."),
        scopes,
        labelled("admin-key-expires", "Expires after (days)", this.expires, "Empty: never."),
      ),
      h("div", { class: "form-actions-row" }, this.status, this.createButton),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    return form;
  }

  buildEmergency() {
    return h(
      "div",
      { class: "danger-zone", dataset: { testid: "admin-keys-emergency" } },
      h(
        "p",
        {},
        h("strong", {}, "Emergency: "),
        "revoke every API key at once, the bootstrap key included. Scripts and integrations stop working on their next request; people stay logged in.",
      ),
      confirmButton({
        label: "Revoke all keys",
        question: "Revoke every API key?",
        testid: "admin-keys-revoke-all",
        onConfirm: async () => {
          const { revoked } = await api.revokeAllKeys();
          if (this.destroyed) return;
          this.status.textContent = `Revoked ${revoked} ${revoked === 1 ? "key" : "keys"}.`;
          this.load();
          this.onChange();
        },
        onError: (err) => this.error.show(err),
      }),
    );
  }

  async load() {
    let keys;
    try {
      keys = await api.listKeys();
    } catch (err) {
      if (!this.destroyed) this.error.show(err);
      return;
    } finally {
      this.tbody.removeAttribute("aria-busy");
    }
    if (this.destroyed) return;
    this.tbody.replaceChildren(...keys.reverse().map((key) => this.row(key)));
    this.empty.hidden = keys.length > 0;
  }

  async create() {
    this.error.hide();
    this.fieldErrors.clear();
    this.status.textContent = "";
    const scopes = [...this.scopes].filter(([, box]) => box.checked).map(([name]) => name);
    const days = this.expires.value.trim();
    this.createButton.disabled = true;
    try {
      const created = await api.createKey({ name: this.name.value.trim(), scopes, expiresDays: days === "" ? null : Number(days) });
      if (this.destroyed) return;
      this.name.value = this.expires.value = "";
      for (const [name, box] of this.scopes) box.checked = startsChecked(name);
      this.showSecret(created);
      this.load();
      this.onChange();
    } catch (err) {
      if (!this.destroyed && !this.fieldErrors.show(err)) this.error.show(err);
    } finally {
      this.createButton.disabled = false;
    }
  }

  /** The new key, once: Copy puts it on the clipboard, Done removes it from the page for good. */
  showSecret({ key, name }) {
    showSecret(this.secret, { title: `The key “${name}” — copy it now: it will not be shown again.`, value: key, testid: "admin-new-key" });
  }

  row(key) {
    const { text, when, live } = keyState(key);
    return h(
      "tr",
      { dataset: { testid: "admin-key-row", keyId: String(key.id), state: live ? "active" : "inactive" } },
      h("td", { class: "nowrap" }, h("code", { dataset: { testid: "admin-key-prefix" } }, `${key.prefix}…`)),
      h("td", { class: "strong", dataset: { testid: "admin-key-name" } }, key.name),
      h("td", {}, h("span", { class: "badges", dataset: { testid: "admin-key-scopes" } }, ...key.scopes.map((scope) => h("span", { class: "badge" }, scope)))),
      h("td", { class: "muted" }, timeElement(key.created_at), h("span", { class: "cell-note" }, "by ", h("span", { dataset: { testid: "admin-key-creator" } }, key.created_by))),
      h("td", { class: "muted", dataset: { testid: "admin-key-last-used" } }, key.last_used_at ? timeElement(key.last_used_at) : "Never"),
      h(
        "td",
        { dataset: { testid: "admin-key-state" } },
        h("span", { class: `badge ${live ? "badge-ready" : "badge-failed"}` }, text),
        when ? h("span", { class: "cell-note muted" }, when[0], timeElement(when[1])) : null,
      ),
      h(
        "td",
        { class: "row-actions" },
        live
          ? confirmButton({
              label: "Revoke",
              question: "Revoke this key?",
              testid: "admin-key-revoke",
              onConfirm: async () => {
                await api.revokeKey(key.id);
                if (this.destroyed) return;
                this.status.textContent = `Revoked “${key.name}”.`;
                this.load();
                this.onChange();
              },
              onError: (err) => this.error.show(err),
            })
          : null,
      ),
    );
  }
}

/** What a key's State cell says (a badge, and since or until when), and whether the key still works. */
function keyState(key) {
  if (key.revoked_at) return { text: "Revoked", when: ["", key.revoked_at], live: false };
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return { text: "Expired", when: ["", key.expires_at], live: false };
  if (key.expires_at) return { text: "Active", when: ["until ", key.expires_at], live: true };
  return { text: "Active", when: null, live: true };
}

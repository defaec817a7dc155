// The Admin page's audit log card: the latest entries, newest first, optionally of one action,
// a page at a time ("Load older" sends back each answer's `next` cursor).

import * as api from "./api.js";
import { h } from "./dom.js";
import { ErrorBanner, scrollRegion, timeElement } from "./widgets.js";

const LIMIT = 100; // entries per page

export class AuditSection {
  constructor() {
    this.destroyed = false;
    this.next = null; // cursor of the next older page, null at the end
    this.shown = 0;
    this.generation = 0; // bumped per request: an older answer is dropped
    this.error = new ErrorBanner("admin-audit-error");
    this.filter = h(
      "select",
      { id: "admin-audit-filter", class: "input input-select", dataset: { testid: "admin-audit-filter" }, onchange: () => this.refresh() },
      h("option", { value: "" }, "All actions"),
      // Every action the server records (soma/audit/actions.py, through /v1/meta): no copy here to drift.
      ...api.meta.audit.actions.map((action) => h("option", { value: action }, action)),
    );
    this.summary = h("p", { class: "muted list-summary", role: "status", dataset: { testid: "admin-audit-summary" } });
    this.tbody = h("tbody", { "aria-busy": "true", dataset: { testid: "admin-audit-list" } }); // until the first answer
    this.moreButton = h("button", { type: "button", class: "button secondary", hidden: true, dataset: { testid: "admin-audit-more" }, onclick: () => this.loadOlder() }, "Load older");
    this.el = h(
      "section",
      { class: "card", "aria-labelledby": "admin-audit-title", dataset: { testid: "admin-audit" } },
      h(
        "div",
        { class: "list-toolbar" },
        h("h2", { id: "admin-audit-title", class: "card-title" }, "Audit log"),
        h("label", { for: "admin-audit-filter", class: "visually-hidden" }, "Show only"),
        this.filter,
        h("button", { type: "button", class: "button secondary small", dataset: { testid: "admin-audit-refresh" }, onclick: () => this.refresh() }, "Refresh"),
      ),
      this.error.el,
      this.summary,
      h(
        "div",
        scrollRegion("admin-audit-title"),
        h(
          "table",
          { class: "data-table audit", "aria-labelledby": "admin-audit-title" },
          h("thead", {}, h("tr", {}, ...["Time", "Action", "Actor", "Target", "Address", "Details"].map((name) => h("th", { scope: "col" }, name)))),
          this.tbody,
        ),
      ),
      h("div", { class: "list-more" }, this.moreButton),
    );
    this.refresh();
  }

  destroy() {
    this.destroyed = true;
    this.generation++;
  }

  async refresh() {
    const generation = ++this.generation;
    const answer = await this.fetch(generation, null);
    if (generation === this.generation) this.tbody.removeAttribute("aria-busy");
    if (!answer) return;
    this.tbody.replaceChildren(...answer.entries.map(row));
    this.shown = answer.entries.length;
    this.show(answer.next);
  }

  /** The next older page, appended below what is shown. */
  async loadOlder() {
    if (this.next === null) return;
    const generation = this.generation; // a refresh meanwhile wins
    this.moreButton.disabled = true;
    const answer = await this.fetch(generation, this.next);
    this.moreButton.disabled = false;
    if (!answer) return;
    this.tbody.append(...answer.entries.map(row));
    this.shown += answer.entries.length;
    this.show(answer.next);
  }

  /** One page of the current filter, or null when it failed or a newer request took over. */
  async fetch(generation, before) {
    let answer;
    try {
      answer = await api.listAudit({ action: this.filter.value, limit: LIMIT, before });
    } catch (err) {
      if (generation === this.generation) this.error.show(err);
      return null;
    }
    if (generation !== this.generation) return null;
    this.error.hide();
    return answer;
  }

  show(next) {
    this.next = next ?? null;
    this.moreButton.hidden = this.next === null;
    const what = this.filter.value ? `“${this.filter.value}” entries` : "entries";
    const more = this.next === null ? "" : "; older ones below";
    this.summary.textContent = this.shown === 0 ? `No ${what} yet.` : `The latest ${this.shown} ${what}, newest first${more}.`;
  }
}

function row(entry) {
  return h(
    "tr",
    { dataset: { testid: "admin-audit-row", action: entry.action } },
    h("td", { class: "muted nowrap" }, timeElement(entry.at)),
    h("td", { class: "nowrap" }, h("code", { dataset: { testid: "admin-audit-action" } }, entry.action)),
    h("td", { dataset: { testid: "admin-audit-actor" } }, entry.actor),
    h("td", { dataset: { testid: "admin-audit-target" } }, entry.target),
    h("td", { class: "muted nowrap" }, entry.client_address || "–"),
    h("td", { class: "audit-details", dataset: { testid: "admin-audit-details" } }, details(entry.details)),
  );
}

/** {"role": "member"} → "role=member"; nested values as JSON. */
function details(values) {
  return Object.entries(values || {})
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(", ");
}

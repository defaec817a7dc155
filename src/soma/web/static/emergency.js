// The Settings page's Emergency stop card (admins only): runbook 5 from the browser.
//
// The admin writes why and types STOP; the server checks the word too (422 otherwise). The stop
// revokes every key and login, this one included, and locks Soma down: the card then shows the
// incident report the server sent, and the page can do nothing more. Only the CLI lifts it.

import * as api from "./api.js";
import { h } from "./dom.js";
import { ErrorBanner, labelled } from "./widgets.js";

const WORD = "STOP";

export class EmergencyCard {
  constructor() {
    this.reason = h("textarea", { id: "emergency-reason", rows: 2, dataset: { testid: "emergency-reason" }, oninput: () => this.onEdit() });
    this.confirm = h("input", { id: "emergency-confirm", type: "text", autocomplete: "off", spellcheck: false, dataset: { testid: "emergency-confirm" }, oninput: () => this.onEdit() });
    this.button = h("button", { type: "button", class: "button danger", disabled: true, dataset: { testid: "emergency-stop" }, onclick: () => this.stop() }, "Stop Soma now");
    this.error = new ErrorBanner("emergency-error");
    this.report = h("div", { hidden: true, dataset: { testid: "emergency-report" } });
    this.form = h(
      "div",
      { class: "danger-zone" },
      h("p", {}, "Revokes every API key and login (yours too), switches the tunnel off, closes every chat stream, cancels running turns and refuses every request until an operator runs ",
        h("code", {}, "soma emergency-stop --lift"), "."),
      labelled("emergency-reason", "Why", this.reason, "Kept in the audit log and the incident report."),
      labelled("emergency-confirm", `Type ${WORD} to confirm`, this.confirm),
      this.button,
    );
    this.el = h(
      "section",
      { id: "emergency", class: "card", "aria-labelledby": "emergency-title", dataset: { testid: "settings-emergency" } },
      h("h2", { id: "emergency-title", class: "card-title" }, "Emergency stop"),
      h("p", { class: "muted card-lede" }, "Take Soma dark at once on a suspected compromise (runbook 5)."),
      this.form,
      this.error.el,
      this.report,
    );
  }

  onEdit() {
    this.button.disabled = this.running || this.confirm.value !== WORD || !this.reason.value.trim();
  }

  async stop() {
    this.running = true;
    this.onEdit();
    this.error.hide();
    try {
      this.show(await api.emergencyStop(this.reason.value.trim(), this.confirm.value));
    } catch (err) {
      this.running = false;
      this.onEdit();
      this.error.show(err);
    }
  }

  show(report) {
    this.form.hidden = true;
    const outcome = report.ok ? "Soma is locked down: every step succeeded." : `Soma is locked down, but these steps failed: ${report.steps.filter((s) => !s.ok).map((s) => s.name).join(", ")}.`;
    this.report.replaceChildren(
      h("p", { dataset: { testid: "emergency-outcome" } }, outcome),
      h("ul", {}, ...report.steps.map((s) => h("li", { dataset: { testid: `emergency-step-${s.name}` } }, `${s.name}: ${s.ok ? "ok" : "failed"} (${Math.round(s.ms)} ms) ${s.detail}`))),
      h("p", { class: "muted" }, "Follow docs/runbooks/emergency-shutdown.md from step 3. Only `soma emergency-stop --lift` ends the lockdown."),
    );
    this.report.hidden = false;
  }
}

// The Settings page's Tunnel card: public access through Cloudflare. It shows the tunnel as the
// supervisor (`soma tunnel run`) last reported it — state, public URL, last error — with the origin
// cloudflared is pointed at (the gateways' tunnel door, where a named tunnel's hostname must point), and switches
// it with PUT /v1/tunnel. The server decides whether Soma may be exposed: while it would refuse (no
// SOMA_PUBLIC_URL, no admin password, an open setup link, the lockdown: GET's `blocked_by`), the switch
// is disabled with the server's reasons under it; a refusal anyway (409 tunnel_refused) names what to
// fix and is shown as is. Only admins see the tunnel or switch it.

import * as api from "./api.js";
import { h } from "./dom.js";
import { ErrorBanner, timeElement } from "./widgets.js";

const POLL_MS = 2000; // the supervisor reports within a second of a change
const READ_ONLY = "Only admins can see and switch the public tunnel.";
const STATES = {
  off: "Off",
  starting: "Starting…",
  connected: "Connected",
  failed: "Failed",
};
const MODES = [
  { value: "token", label: "Named tunnel (token)" },
  { value: "quick", label: "Quick tunnel (trycloudflare.com, for development)" },
];

export class TunnelCard {
  constructor() {
    this.timer = null;
    this.busy = false; // a switch in flight: polls do not move the controls under the user
    this.destroyed = false;
    this.el = h(
      "section",
      { id: "tunnel", class: "card tunnel", "aria-labelledby": "tunnel-title", dataset: { testid: "settings-tunnel" } },
      h("h2", { id: "tunnel-title", class: "card-title" }, "Tunnel"),
      h("p", { class: "muted card-lede" }, "Public access through Cloudflare. It stays shut until an admin account has a password, no setup link is open and SOMA_PUBLIC_URL is set. Switch it off to change its kind."),
      ...(api.isAdmin() ? this.build() : [h("p", { class: "muted", dataset: { testid: "tunnel-read-only" } }, READ_ONLY)]),
    );
    if (api.isAdmin()) this.refresh();
  }

  /** The page is left: stop polling. */
  destroy() {
    clearTimeout(this.timer);
    this.timer = null;
    this.destroyed = true;
  }

  build() {
    this.error = new ErrorBanner("tunnel-refused");
    this.switch = h("input", { type: "checkbox", class: "checkbox switch", role: "switch", id: "tunnel-switch", disabled: true, "aria-describedby": "tunnel-blocked", dataset: { testid: "tunnel-switch" } });
    this.blocked = h("ul", { id: "tunnel-blocked", class: "control-reason", hidden: true, dataset: { testid: "tunnel-blocked" } });
    this.switch.addEventListener("change", () => this.toggle());
    this.mode = h(
      "select",
      { id: "tunnel-mode", class: "input input-select", disabled: true, dataset: { testid: "tunnel-mode" } },
      ...MODES.map(({ value, label }) => h("option", { value }, label)),
    );
    this.state = h("span", { dataset: { testid: "tunnel-state" } }, "…");
    this.url = h("span", { dataset: { testid: "tunnel-url" } }, "—");
    this.origin = h("code", { dataset: { testid: "tunnel-origin" } }, "—");
    this.lastError = h("span", { dataset: { testid: "tunnel-last-error" } }, "—");
    this.reported = h("span", { class: "muted", dataset: { testid: "tunnel-reported" } });
    return [
      h("div", { class: "fields" },
        h("div", { class: "field" }, h("label", { for: "tunnel-switch", class: "field-label switch-label" }, this.switch, "Open Soma to the internet"), this.blocked),
        h("div", { class: "field" }, h("label", { for: "tunnel-mode", class: "field-label" }, "Kind"), this.mode),
      ),
      h("dl", { class: "tunnel-status" },
        h("dt", {}, "State"), h("dd", {}, this.state, " ", this.reported),
        h("dt", {}, "Public URL"), h("dd", {}, this.url),
        h("dt", {}, "Origin"), h("dd", {}, this.origin),
        h("dt", {}, "Last error"), h("dd", {}, this.lastError),
      ),
      this.error.el,
    ]; // prettier-ignore
  }

  async refresh() {
    clearTimeout(this.timer);
    try {
      this.show(await api.getTunnel());
    } catch (err) {
      if (api.isLockdown(err)) return; // the banner says it; polling stops (the page reloads when it lifts)
      this.error.show(err);
    }
    if (!this.destroyed) this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  show(tunnel) {
    // What keeps it shut, as the server would say on a refusal: the switch cannot open it until fixed.
    const blocked = !tunnel.enabled && Array.isArray(tunnel.blocked_by) ? tunnel.blocked_by : [];
    this.blocked.replaceChildren(...blocked.map((reason) => h("li", {}, reason)));
    this.blocked.hidden = blocked.length === 0;
    this.blockedNow = blocked.length > 0;
    if (!this.busy) {
      this.switch.checked = tunnel.enabled;
      this.mode.value = tunnel.mode;
      this.switch.disabled = this.blockedNow;
      this.mode.disabled = tunnel.enabled || this.blockedNow; // the kind changes while the tunnel is off
    }
    this.state.textContent = STATES[tunnel.state] || tunnel.state;
    this.state.dataset.state = tunnel.state;
    this.reported.replaceChildren(...(tunnel.reported_at ? ["reported ", timeElement(tunnel.reported_at)] : ["no supervisor has reported yet"]));
    this.url.replaceChildren(tunnel.public_url ? h("a", { href: tunnel.public_url, target: "_blank", rel: "noopener" }, tunnel.public_url) : "—");
    this.origin.textContent = tunnel.origin || "—";
    this.lastError.textContent = tunnel.last_error || "—";
  }

  async toggle() {
    this.busy = true;
    this.switch.disabled = this.mode.disabled = true;
    this.error.hide();
    const enabled = this.switch.checked;
    try {
      this.show(await api.setTunnel(enabled ? { enabled, mode: this.mode.value } : { enabled }));
    } catch (err) {
      this.switch.checked = !enabled; // nothing changed on the server
      this.error.show(err);
    } finally {
      this.busy = false;
      this.switch.disabled = !this.switch.checked && this.blockedNow;
      this.mode.disabled = this.switch.checked || this.blockedNow;
    }
  }
}

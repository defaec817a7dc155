// Settings → Tools: what the agent may call, as GET /v1/tools reports it. Soma's own tools (server
// "soma") come first, then each MCP server with its transport, its state and, when it failed, its
// error in the server's own words, and its tools. Each tool has an Enabled switch and says whether
// its calls run at once ("auto") or wait in the chat for the reader to allow them ("ask"); a change
// is saved at once with PATCH, and put back as it was, with the server's message, when refused.
// An admin can also replace every server from an {"mcpServers": …} document (the shape Claude
// Desktop and other MCP clients use), sent as typed so the server judges it (and connects to each
// server before it answers), load the current servers into the box to edit them, and remove one.
// Members see the same lists with the controls disabled.

import * as api from "./api.js";
import { h } from "./dom.js";
import { confirmButton, ErrorBanner } from "./widgets.js";

const BUILT_IN = "soma";
const READ_ONLY = "Only admins can change tools and servers.";
const STATES = {
  connected: { label: "Connected", badge: "badge-ready" },
  failed: { label: "Failed", badge: "badge-failed" },
  disabled: { label: "Disabled", badge: "badge-pending" },
};
const APPROVALS = [
  { value: "auto", label: "Run at once" },
  { value: "ask", label: "Ask first" },
];
const EXAMPLE = '{"mcpServers": {"files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv/files"]}}}';

let lastId = 0; // for aria-labelledby: server names are the admin's words, not safe as ids

export class ToolsCard {
  constructor() {
    this.admin = api.isAdmin();
    this.destroyed = false;
    this.error = new ErrorBanner("tools-error");
    this.status = h("span", { class: "form-status muted", role: "status", dataset: { testid: "tools-status" } });
    this.list = h("div", { class: "tool-servers", "aria-busy": "true", dataset: { testid: "tool-servers" } }, h("p", { class: "muted" }, "Loading…"));
    this.title = h("h2", { id: "tools-title", class: "card-title", tabindex: -1 }, "Tools");
    this.el = h(
      "section",
      { id: "tools", class: "card tools", "aria-labelledby": "tools-title", dataset: { testid: "settings-tools" } },
      h(
        "div",
        { class: "list-toolbar" },
        this.title,
        this.status,
        h("button", { type: "button", class: "button subtle", dataset: { testid: "tools-refresh" }, onclick: () => this.refresh() }, "Refresh"),
      ),
      h("p", { class: "muted card-lede" }, "What the agent may call: Soma's own tools and those of the MCP servers below. A tool that asks first waits in the chat until you allow or deny the call."),
      this.error.el,
      this.list,
      this.admin ? this.buildImport() : h("p", { class: "muted", dataset: { testid: "tools-read-only" } }, READ_ONLY),
    );
    this.refresh();
  }

  destroy() {
    this.destroyed = true;
  }

  async refresh() {
    let catalogue;
    try {
      catalogue = await api.listTools();
    } catch (err) {
      if (this.destroyed) return;
      this.list.removeAttribute("aria-busy");
      this.list.replaceChildren();
      this.error.show(err);
      return;
    }
    if (this.destroyed) return;
    this.error.hide();
    this.render(catalogue);
  }

  /** Draw the lists afresh; a control that had the focus gets it back in its new form. */
  render({ servers, tools }) {
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.focusKey : undefined;
    const groups = [{ name: BUILT_IN, builtIn: true, tools: [] }, ...servers.map((server) => ({ ...server, tools: [] }))];
    const byName = new Map(groups.map((group) => [group.name, group]));
    for (const tool of tools) {
      if (!byName.has(tool.server)) {
        const group = { name: tool.server, tools: [] }; // listed without its server: show it anyway
        byName.set(tool.server, group);
        groups.push(group);
      }
      byName.get(tool.server).tools.push({ ...tool });
    }
    const shown = groups.filter((group) => !group.builtIn || group.tools.length);
    this.list.removeAttribute("aria-busy");
    this.list.replaceChildren(...shown.map((group) => this.serverBlock(group)));
    if (servers.length === 0) {
      this.list.append(h("p", { class: "muted tool-servers-empty", dataset: { testid: "tool-servers-empty" } }, "No MCP server is configured."));
    }
    if (focused) this.list.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  }

  serverBlock(server) {
    const headingId = `tool-server-${++lastId}`;
    const state = STATES[server.state];
    const head = h(
      "div",
      { class: "tool-server-head" },
      h("h3", { id: headingId, class: "tool-server-name", dataset: { testid: "tool-server-name" } }, server.builtIn ? "Built-in" : server.name),
    );
    if (!server.builtIn) {
      head.append(
        server.transport ? h("span", { class: "badge", dataset: { testid: "tool-server-transport" } }, server.transport) : "",
        server.state ? h("span", { class: `badge ${state ? state.badge : ""}`, dataset: { testid: "tool-server-state" } }, state ? state.label : server.state) : "",
      );
      if (this.admin) {
        head.append(
          confirmButton({
            label: "Remove",
            question: `Remove ${server.name} and its tools?`,
            testid: "tool-server-remove",
            onConfirm: () => this.remove(server.name),
            onError: (err) => this.error.show(err),
          }),
        );
      }
    }
    let tools;
    if (server.tools.length) {
      tools = h("ul", { class: "item-list tool-list" }, ...server.tools.map((tool) => this.toolItem(tool)));
    } else {
      tools = h("p", { class: "muted tool-list-empty" }, server.state === "connected" ? "It offers no tools." : "Its tools show once it connects.");
    }
    return h(
      "section",
      { class: "tool-server", "aria-labelledby": headingId, dataset: { testid: "tool-server", server: server.name, state: server.state || "" } },
      head,
      server.error ? h("p", { class: "tool-server-error", dataset: { testid: "tool-server-error" } }, server.error) : null,
      tools,
    );
  }

  toolItem(tool) {
    const key = `${tool.server}/${tool.name}`;
    const enabled = h("input", {
      type: "checkbox",
      class: "checkbox",
      role: "switch",
      "aria-label": `${tool.name} enabled`,
      disabled: !this.admin,
      dataset: { testid: "tool-enabled", focusKey: `${key}/enabled` },
    });
    enabled.checked = tool.enabled;
    const approval = h(
      "select",
      { class: "input input-select", "aria-label": `Calls to ${tool.name}`, disabled: !this.admin, dataset: { testid: "tool-approval", focusKey: `${key}/approval` } },
      ...APPROVALS.map(({ value, label }) => h("option", { value }, label)),
    );
    approval.value = tool.approval;
    const save = () => this.save(tool, enabled, approval);
    enabled.addEventListener("change", save);
    approval.addEventListener("change", save);
    return h(
      "li",
      { class: "item tool", dataset: { testid: "tool", server: tool.server, tool: tool.name } },
      h(
        "div",
        { class: "item-main" },
        h("p", { class: "item-text tool-name", dataset: { testid: "tool-name" } }, tool.name),
        tool.description ? h("p", { class: "muted tool-description", title: tool.description, dataset: { testid: "tool-description" } }, tool.description) : null,
        // A built-in that cannot run (run_code without its sandbox) says why; an MCP tool's server says it above.
        tool.server === "soma" && tool.available === false
          ? h("p", { class: "muted tool-unavailable", dataset: { testid: "tool-unavailable" } }, `Not offered now: ${tool.reason}`)
          : null,
      ),
      h("div", { class: "item-actions tool-controls" }, h("label", { class: "tool-switch" }, enabled, h("span", { "aria-hidden": "true" }, "Enabled")), approval),
    );
  }

  /**
   * PATCH the tool with what its controls say now. Saves of one tool go one after another, so the
   * last change wins; a refusal puts the controls back to what was last saved and shows why.
   */
  save(tool, enabled, approval) {
    tool.saving = (tool.saving || Promise.resolve()).then(async () => {
      const changes = { enabled: enabled.checked, approval: approval.value };
      if (changes.enabled === tool.enabled && changes.approval === tool.approval) return;
      this.error.hide();
      this.status.textContent = "Saving…";
      try {
        const saved = await api.updateTool(tool.server, tool.name, changes);
        Object.assign(tool, changes, saved && typeof saved === "object" ? pick(saved, ["enabled", "approval"]) : {});
        this.status.textContent = `Saved ${tool.name}.`;
      } catch (err) {
        this.status.textContent = "";
        this.error.show(err);
      }
      enabled.checked = tool.enabled;
      approval.value = tool.approval;
    });
  }

  async remove(name) {
    await api.removeToolServer(name); // a refusal goes to confirmButton's onError
    this.status.textContent = `Removed the server ${name}.`;
    await this.refresh();
    this.title.focus(); // its Remove button is gone
  }

  buildImport() {
    this.importError = new ErrorBanner("tools-import-error");
    this.importInput = h("textarea", {
      id: "tools-import",
      class: "input textarea tools-import",
      rows: 6,
      spellcheck: "false",
      placeholder: EXAMPLE,
      "aria-describedby": "tools-import-help",
      dataset: { testid: "tools-import" },
    });
    this.importButton = h("button", { type: "submit", class: "button primary", dataset: { testid: "tools-import-submit" } }, "Import");
    const loadButton = h(
      "button",
      { type: "button", class: "button secondary", dataset: { testid: "tools-import-load" }, onclick: () => this.loadCurrent() },
      "Load the current servers",
    );
    this.importStatus = h("span", { class: "form-status muted", role: "status", dataset: { testid: "tools-import-status" } });
    const form = h(
      "form",
      { class: "inline-form", novalidate: true, dataset: { testid: "tools-import-form" } },
      h("h3", { class: "inline-form-title" }, "Import MCP servers"),
      h(
        "div",
        { class: "field" },
        h("label", { for: "tools-import", class: "field-label" }, "mcpServers JSON"),
        h(
          "p",
          { id: "tools-import-help", class: "field-help muted" },
          'Paste the {"mcpServers": …} document other MCP clients use. It replaces every server configured now. ' +
            "Give secrets in env and headers as references (vault:kv/path#key, env:NAME or file:/path), never as values.",
        ),
        this.importInput,
      ),
      this.importError.el,
      h("div", { class: "form-actions-row" }, this.importStatus, loadButton, this.importButton),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.import();
    });
    return form;
  }

  async import() {
    const text = this.importInput.value;
    if (!text.trim() || this.importButton.disabled) return;
    this.importButton.disabled = true;
    this.importError.hide();
    this.importInput.removeAttribute("aria-invalid");
    this.importStatus.textContent = "Importing and connecting…";
    let catalogue;
    try {
      catalogue = await api.importToolServers(text);
    } catch (err) {
      this.importStatus.textContent = "";
      this.importInput.setAttribute("aria-invalid", "true");
      this.importError.show(err);
      this.importInput.focus(); // to be corrected
      return;
    } finally {
      this.importButton.disabled = false;
    }
    this.importInput.value = "";
    this.importStatus.textContent = "Imported.";
    if (this.destroyed) return;
    this.error.hide();
    this.render(catalogue); // the servers as they are now, each connected to once
  }

  /** Put the configured servers, as the mcpServers JSON (references, never secret values), in the box to edit. */
  async loadCurrent() {
    this.importError.hide();
    try {
      const current = await api.exportToolServers();
      this.importInput.value = JSON.stringify(current, null, 2);
      this.importInput.removeAttribute("aria-invalid");
      this.importStatus.textContent = "";
      this.importInput.focus();
    } catch (err) {
      this.importError.show(err);
    }
  }
}

function pick(object, keys) {
  return Object.fromEntries(keys.filter((key) => key in object).map((key) => [key, object[key]]));
}

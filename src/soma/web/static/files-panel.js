// The open chat's Files panel: what its workspace holds (GET /v1/sessions/{id}/files), each file
// with its size and when it last changed, a link that downloads it, and Delete, which asks first.
// Files come from attachments and from the agent's code; the page calls refreshSoon() after a message
// with files is sent and after a run_code call finishes. The list is the chat's ChatFiles' own
// (chat-files.js), so the panel and the steps that check their files share each read. The panel lies over the chat, beside it on
// a wide screen, over all of it on a phone; Esc or Close shuts it and gives the focus back to the
// button that opened it.

import * as api from "./api.js";
import { h } from "./dom.js";
import { formatBytes, formatCount } from "./format.js";
import { confirmButton, ErrorBanner, timeElement } from "./widgets.js";

const REFRESH_DELAY_MS = 250; // long enough to share the read the steps drawing the same change asked for

export class FilesPanel {
  /** @param {{onClose: () => void}} options  onClose: the panel was shut (give the focus back) */
  constructor({ onClose }) {
    this.onClose = onClose;
    this.files = null; // the open chat's ChatFiles
    this.generation = 0; // bumped per request: an older answer is dropped
    this.timer = null;
    this.error = new ErrorBanner("files-error");
    this.summary = h("p", { class: "list-summary muted", role: "status", dataset: { testid: "files-summary" } });
    this.list = h("ul", { class: "item-list files-list", "aria-labelledby": "files-title", dataset: { testid: "files-list" } });
    this.empty = h(
      "div",
      { class: "list-empty", hidden: true, dataset: { testid: "files-empty" } },
      h("h3", {}, "No files yet"),
      h("p", { class: "muted" }, "Attach files to a message, or ask Soma to write some with code."),
    );
    this.title = h("h2", { id: "files-title", class: "files-title", tabindex: -1 }, "Files");
    this.el = h(
      "aside",
      { id: "files-panel", class: "files-panel", "aria-labelledby": "files-title", hidden: true, dataset: { testid: "files-panel" } },
      h(
        "div",
        { class: "files-head" },
        this.title,
        h("button", { type: "button", class: "button subtle", dataset: { testid: "files-refresh" }, onclick: () => this.refresh() }, "Refresh"),
        h("button", { type: "button", class: "icon-button", "aria-label": "Close files", title: "Close", dataset: { testid: "files-close", icon: "\u00d7" }, onclick: () => this.close() }),
      ),
      h("p", { class: "muted files-lede" }, "This chat's files: what you attach and what the agent's code writes. They stay with the chat."),
      this.error.el,
      this.summary,
      this.list,
      this.empty,
    );
    this.el.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.stopPropagation(); // Esc shuts the panel; it does not also stop an answer
      this.close();
    });
  }

  get isOpen() {
    return !this.el.hidden;
  }

  /** Show the files of another chat (null: none; the panel shuts). */
  show(files) {
    this.files = files;
    this.generation++;
    this.list.replaceChildren();
    this.summary.textContent = "";
    this.empty.hidden = true;
    this.error.hide();
    if (!files) this.close(false);
    else if (this.isOpen) this.refresh();
  }

  open() {
    if (!this.files) return;
    this.el.hidden = false;
    this.title.focus();
    this.refresh();
  }

  /** Shut the panel; with `refocus`, the focus goes back where it came from. */
  close(refocus = true) {
    if (!this.isOpen) return;
    const hadFocus = this.el.contains(document.activeElement);
    this.el.hidden = true;
    clearTimeout(this.timer);
    this.onClose(refocus && hadFocus);
  }

  /** Show the list again soon, when the panel is open: the page told the chat's ChatFiles that they changed. */
  refreshSoon() {
    if (!this.isOpen) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh({ reread: false }), REFRESH_DELAY_MS);
  }

  /** Show the chat's files; with `reread` (opened, Refresh), read afresh rather than as last read. */
  async refresh({ reread = true } = {}) {
    if (!this.files) return;
    const generation = ++this.generation;
    this.list.setAttribute("aria-busy", "true");
    if (reread) this.files.changed();
    let listing;
    try {
      listing = [...(await this.files.current()).values()];
    } catch (err) {
      if (generation !== this.generation) return;
      this.list.removeAttribute("aria-busy");
      this.error.show(err);
      return;
    }
    if (generation !== this.generation) return;
    this.list.removeAttribute("aria-busy");
    this.error.hide();
    this.render(listing);
  }

  render(listing) {
    const total = listing.reduce((sum, file) => sum + (Number(file.size) || 0), 0);
    this.summary.textContent = listing.length ? `${formatCount(listing.length, "file")}, ${formatBytes(total)}` : "";
    this.empty.hidden = listing.length > 0;
    // The focus stays on the row it was in, when that row is still there.
    const focusedPath = this.list.contains(document.activeElement) ? document.activeElement.closest("[data-path]")?.dataset.path : undefined;
    this.list.replaceChildren(...listing.map((file) => this.row(file)));
    if (focusedPath !== undefined) {
      const row = [...this.list.children].find((li) => li.dataset.path === focusedPath);
      row?.querySelector("a")?.focus();
    }
  }

  row(file) {
    return h(
      "li",
      { class: "item file-item", dataset: { testid: "file", path: file.path } },
      h(
        "div",
        { class: "item-main" },
        this.files.link(file, { testid: "file-download", withSize: false }),
        h("div", { class: "item-meta muted" }, h("span", { dataset: { testid: "file-size" } }, formatBytes(file.size)), timeElement(file.modified_at, { dataset: { testid: "file-modified" } })),
      ),
      h(
        "div",
        { class: "item-actions" },
        confirmButton({
          name: `Delete ${file.path}`,
          question: `Delete ${file.path}?`,
          testid: "file-delete",
          onConfirm: () => this.remove(file.path),
          onError: (err) => this.error.show(err),
        }),
      ),
    );
  }

  async remove(path) {
    await api.deleteFile(this.files.chatId, path);
    await this.refresh();
    this.title.focus(); // its row is gone
  }
}

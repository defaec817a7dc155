// The open chat's header: its title (renamed in place), its agent profile ("(deleted)" once that
// profile is gone), the connection status, the button that opens the chat's Files panel
// (files-panel.js), and a menu to rename, export (Markdown or JSON, downloaded from the server) or
// delete the chat. A chat made by another chat's `delegate` call gets a line under the header
// linking back to that chat (`lineage`, placed by the page). The page does the requests; this
// module draws and asks.

import * as api from "./api.js";
import { h } from "./dom.js";

export class ChatHeader {
  /**
   * @param {{onRename: (title: string) => Promise<void>, onDelete: () => Promise<void>, onFiles: () => void}} actions
   *   onRename and onDelete may throw an ApiError; the header then keeps its state and the page shows the error.
   *   onFiles opens or shuts the Files panel, whose open state setFilesOpen() then shows.
   */
  constructor({ onRename, onDelete, onFiles }) {
    this.onRename = onRename;
    this.onDelete = onDelete;
    this.chatId = null;
    this.title = h("h1", { id: "chat-title", class: "chat-title", dataset: { testid: "chat-title" } });
    this.titleInput = h("input", { class: "input chat-title-input", "aria-label": "Chat title", hidden: true, dataset: { testid: "chat-title-input" } });
    this.titleInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") this.saveTitle();
      if (event.key === "Escape") {
        event.stopPropagation();
        this.endRename();
      }
    });
    this.titleInput.addEventListener("blur", () => this.saveTitle());
    this.status = h("span", { class: "status", role: "status", dataset: { testid: "connection-status" }, hidden: true });
    this.profile = h("span", { class: "badge chat-profile", hidden: true, dataset: { testid: "chat-profile" } });
    this.parentLink = h("a", { class: "link", dataset: { testid: "chat-parent-link" } }, "Open the chat that delegated it");
    this.lineage = h(
      "p",
      { class: "chat-lineage muted", hidden: true, dataset: { testid: "chat-parent" } },
      "This chat does a task another chat delegated to it. ",
      this.parentLink,
    );
    this.exportMarkdown = h("a", { class: "menu-item", role: "menuitem", download: "", dataset: { testid: "export-markdown" } }, "Export as Markdown");
    this.exportJson = h("a", { class: "menu-item", role: "menuitem", download: "", dataset: { testid: "export-json" } }, "Export as JSON");
    this.menu = h(
      "div",
      { class: "menu", role: "menu", hidden: true, dataset: { testid: "chat-menu" } },
      menuButton("Rename", "rename-chat", () => this.startRename()),
      this.exportMarkdown,
      this.exportJson,
      menuButton("Delete…", "delete-chat", () => this.askDelete(), "danger-text"),
    );
    this.menu.addEventListener("click", () => this.toggleMenu(false)); // an export link downloads, and the menu is done
    this.menuButton = h(
      "button",
      { type: "button", class: "icon-button menu-button", "aria-label": "Chat actions", "aria-haspopup": "menu", "aria-expanded": "false", dataset: { testid: "chat-menu-button", icon: "\u22ef" }, onclick: () => this.toggleMenu() },
    );
    this.confirm = new DeleteDialog(() => this.onDelete());
    this.filesButton = h(
      "button",
      { type: "button", class: "button subtle files-button", "aria-expanded": "false", "aria-controls": "files-panel", dataset: { testid: "files-open" }, onclick: onFiles },
      "Files",
    );
    this.el = h(
      "header",
      { class: "chat-header" },
      this.title,
      this.titleInput,
      this.profile,
      this.status,
      this.filesButton,
      h("div", { class: "menu-anchor" }, this.menuButton, this.menu),
      this.confirm.el,
    );
    this.menu.parentElement.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || this.menu.hidden) return;
      event.stopPropagation(); // Esc closes the menu; it does not also stop an answer
      this.toggleMenu(false);
      this.menuButton.focus();
    });
    this.onOutsideClick = (event) => {
      if (!this.el.contains(event.target)) this.toggleMenu(false);
    };
    document.addEventListener("click", this.onOutsideClick);
  }

  destroy() {
    document.removeEventListener("click", this.onOutsideClick);
  }

  /** Show chat `chatId` (null: no chat yet, so no menu) with `title`. */
  show(chatId, title) {
    this.chatId = chatId;
    this.setTitle(title);
    this.menuButton.hidden = this.filesButton.hidden = !chatId;
    this.setProfile(null);
    this.setParent(null);
    this.toggleMenu(false);
    this.endRename();
    if (chatId) {
      this.exportMarkdown.href = api.exportUrl(chatId, "markdown");
      this.exportJson.href = api.exportUrl(chatId, "json");
    }
  }

  /** Show the chat's profile (null: none); `exists` false marks it "(deleted)", undefined while unknown. */
  setProfile(name, exists) {
    this.profile.hidden = !name;
    this.profile.textContent = name ? (exists === false ? `${name} (deleted)` : name) : "";
    this.profile.title = name ? (exists === false ? "This profile was deleted: the chat runs on the settings alone." : "The chat's agent profile") : "";
    this.profile.dataset.deleted = String(exists === false);
  }

  /** Link a child chat to the chat that delegated it (null: a chat of its own). */
  setParent(parentId) {
    this.lineage.hidden = !parentId;
    if (parentId) this.parentLink.href = `#/chats/${parentId}`;
  }

  /** Whether the Files panel is open, for the button's aria-expanded. */
  setFilesOpen(open) {
    this.filesButton.setAttribute("aria-expanded", String(open));
  }

  setTitle(title) {
    this.title.textContent = title;
    this.title.title = title;
  }

  toggleMenu(open = this.menu.hidden) {
    this.menu.hidden = !open;
    this.menuButton.setAttribute("aria-expanded", String(open));
  }

  startRename() {
    this.toggleMenu(false);
    this.titleInput.value = this.title.textContent;
    this.title.hidden = true;
    this.titleInput.hidden = false;
    this.titleInput.focus();
    this.titleInput.select();
  }

  endRename() {
    this.titleInput.hidden = true;
    this.title.hidden = false;
  }

  async saveTitle() {
    if (this.titleInput.hidden) return;
    const title = this.titleInput.value.trim();
    this.endRename();
    if (!title || title === this.title.textContent) return;
    const before = this.title.textContent;
    this.setTitle(title);
    try {
      await this.onRename(title);
    } catch {
      this.setTitle(before);
    }
  }

  askDelete() {
    this.toggleMenu(false);
    this.confirm.open(this.title.textContent);
  }
}

function menuButton(label, testid, onclick, extra = "") {
  return h("button", { type: "button", class: `menu-item ${extra}`.trim(), role: "menuitem", dataset: { testid }, onclick }, label);
}

/** "Delete <title>?" with Delete and Cancel, in a modal dialog. */
class DeleteDialog {
  constructor(onConfirm) {
    this.onConfirm = onConfirm;
    this.question = h("p", { class: "dialog-lede" });
    this.yes = h("button", { type: "button", class: "button danger", dataset: { testid: "delete-chat-confirm" }, onclick: () => this.confirm() }, "Delete");
    this.no = h("button", { type: "button", class: "button subtle", dataset: { testid: "delete-chat-cancel" }, onclick: () => this.el.close() }, "Cancel");
    this.el = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "delete-chat-title", dataset: { testid: "delete-chat-dialog" } },
      h("div", { class: "dialog-form" }, h("h2", { id: "delete-chat-title", class: "dialog-title" }, "Delete this chat?"), this.question, h("div", { class: "form-actions" }, this.no, this.yes)),
    );
  }

  open(title) {
    this.question.textContent = `“${title}” and all its messages will be gone for good.`;
    this.yes.disabled = false;
    this.el.showModal();
    this.no.focus();
  }

  async confirm() {
    this.yes.disabled = true;
    try {
      await this.onConfirm();
    } finally {
      this.el.close();
    }
  }
}

// The Chats page's keyboard shortcuts: the list `?` shows in a dialog, and the one listener that
// acts on them. Only keys with no other meaning where they are pressed count: `?` typed in the
// composer is a question mark, not the dialog.

import { h } from "./dom.js";

export const SHORTCUTS = [
  ["Enter", "Send the message"],
  ["Shift + Enter", "New line"],
  ["Esc", "Stop the answer"],
  ["Ctrl + K", "Search chats"],
  ["?", "Show these shortcuts"],
];

export class ShortcutsDialog {
  constructor() {
    const rows = SHORTCUTS.map(([keys, action]) =>
      h("tr", {}, h("th", { scope: "row" }, ...keys.split(" + ").flatMap((key, k) => (k ? [" + ", h("kbd", {}, key)] : [h("kbd", {}, key)]))), h("td", {}, action)),
    );
    const close = h("button", { type: "button", class: "button subtle", dataset: { testid: "shortcuts-close" }, onclick: () => this.el.close() }, "Close");
    this.el = h(
      "dialog",
      { class: "dialog shortcuts", "aria-labelledby": "shortcuts-title", dataset: { testid: "shortcuts-dialog" } },
      h("div", { class: "dialog-form" }, h("h2", { id: "shortcuts-title", class: "dialog-title" }, "Keyboard shortcuts"), h("table", { class: "shortcut-table" }, h("tbody", {}, ...rows)), h("div", { class: "form-actions" }, close)),
    );
  }

  open() {
    if (!this.el.open) this.el.showModal();
  }
}

/**
 * Listen on the document for the page's shortcuts; returns the function that stops listening.
 * @param {{stop: () => void, search: () => void, help: () => void}} actions
 */
export function listenForShortcuts({ stop, search, help }) {
  const onKey = (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    if (event.key === "Escape" && !document.querySelector("dialog[open]")) stop();
    else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      search();
    } else if (event.key === "?" && !isTyping(event.target)) {
      event.preventDefault();
      help();
    }
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

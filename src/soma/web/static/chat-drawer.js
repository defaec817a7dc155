// The chat list as a drawer on narrow screens: the "Chat list" button at the head of the open chat
// slides the list over the chat; choosing a chat, Escape (focus back on the button) or a tap beside
// it closes it. On wide screens the CSS keeps the list beside the chat and hides the button.

import { h } from "./dom.js";

const ID = "chat-drawer";

export class ChatDrawer {
  /**
   * @param {HTMLElement} page     the Chats page, which gets the class "drawer-open" while it is open
   * @param {HTMLElement} sidebar  the chat list's aside, which becomes the drawer
   */
  constructor(page, sidebar) {
    this.page = page;
    this.sidebar = sidebar;
    sidebar.id = ID;
    this.button = h(
      "button",
      { type: "button", class: "button subtle drawer-button", "aria-controls": ID, "aria-expanded": "false", dataset: { testid: "chat-drawer-button" }, onclick: () => this.toggle() },
      "Chat list",
    );
    this.backdrop = h("div", { class: "drawer-backdrop", "aria-hidden": "true", onclick: () => this.toggle(false) });
    page.append(this.backdrop);
    sidebar.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !this.isOpen()) return;
      event.stopPropagation(); // Esc closes the drawer; it does not also stop an answer
      this.toggle(false);
      this.button.focus();
    });
  }

  isOpen() {
    return this.page.classList.contains("drawer-open");
  }

  /** Open or close the drawer; opened, the focus goes into it (its search box). */
  toggle(open = !this.isOpen()) {
    this.page.classList.toggle("drawer-open", open);
    this.button.setAttribute("aria-expanded", String(open));
    if (open) this.sidebar.querySelector("input, a, button")?.focus();
  }
}

// The chat list as a drawer on narrow screens: the "Chat list" button at the head of the open chat
// slides the list over the chat; choosing a chat, Escape (focus back on the button) or a tap beside
// it closes it. With no chat open it is open, so a phone shows the list first. On wide screens the
// CSS keeps the list beside the chat and hides the button.

import { h } from "./dom.js";

const ID = "chat-drawer";
const NARROW = window.matchMedia("(max-width: 720px)"); // where style.css makes the list a drawer

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

  /** Open or close the drawer; opened by the button, the focus goes into it (its first control). */
  toggle(open = !this.isOpen(), { focus = true } = {}) {
    this.page.classList.toggle("drawer-open", open);
    this.button.setAttribute("aria-expanded", String(open));
    if (open && focus) this.sidebar.querySelector("input, a, button")?.focus();
  }

  /** A chat was opened (shut the drawer) or none is (open it on a narrow screen: the list is what there is to see). */
  follow(chatId) {
    this.toggle(!chatId && NARROW.matches, { focus: false });
  }
}

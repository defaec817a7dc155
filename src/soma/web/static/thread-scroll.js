// The open chat's scrolling thread: it follows the latest message while the reader is at the
// bottom, keeps their place exactly while they read further up (a finished answer re-rendered as
// Markdown changes height, and a child chat grows inside its delegate step), and offers a ↓
// button back to the bottom while they are up there.

import { h } from "./dom.js";

const NEAR_BOTTOM_PX = 80; // this close to the end counts as at the bottom

export class ThreadScroll {
  /** @param {HTMLElement} content  what scrolls; `el` goes in the chat, `button` above its composer */
  constructor(content) {
    this.el = h("div", { class: "scroller" }, content);
    this.el.addEventListener("scroll", () => this.updateButton());
    this.button = h(
      "button",
      { type: "button", class: "scroll-bottom", "aria-label": "Scroll to the latest message", hidden: true, dataset: { testid: "scroll-to-bottom" }, onclick: () => this.toBottom() },
      "\u2193",
    );
  }

  /** Draw a change (`apply()`): at the bottom, stay there; scrolled up, stay exactly where the reader was. */
  keeping(apply) {
    const stick = this.nearBottom();
    const top = this.el.scrollTop;
    apply();
    if (stick) this.toBottom();
    else this.el.scrollTop = top;
    this.updateButton();
  }

  nearBottom() {
    const s = this.el;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  toBottom() {
    this.el.scrollTop = this.el.scrollHeight;
    this.button.hidden = true;
  }

  /** The ↓ button shows when the reader has scrolled up from the latest message. */
  updateButton() {
    this.button.hidden = this.nearBottom();
  }
}

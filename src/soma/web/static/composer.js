// The chat's composer: the message box (Enter sends, Shift+Enter is a new line, it grows with its
// text), the paperclip and the files waiting to go with the message (attachments.js), the upload's
// progress while they go, Send, and Stop while an answer is being written. The page does the
// requests: it reads the draft, and calls sent() once the server has the message; on a refusal
// it does nothing here, so the draft and its files stay to be sent again.

import { Attachments } from "./attachments.js";
import { h } from "./dom.js";
import { ProgressBar } from "./widgets.js";

const MAX_INPUT_PX = 220;
const PLACEHOLDER = "Message Soma…";

export class Composer {
  /** @param {{onSend: () => void, onStop: () => void, onShortcuts: () => void}} actions */
  constructor({ onSend, onStop, onShortcuts }) {
    this.sending = false;
    this.input = h("textarea", {
      id: "composer-input",
      class: "composer-input",
      rows: 1,
      placeholder: PLACEHOLDER,
      "aria-describedby": "composer-hint",
      dataset: { testid: "composer-input" },
    });
    this.sendButton = h("button", { type: "submit", class: "button primary send", disabled: true, dataset: { testid: "send" } }, "Send");
    this.stopButton = h(
      "button",
      { type: "button", class: "button secondary stop", hidden: true, "aria-keyshortcuts": "Escape", dataset: { testid: "stop" }, onclick: onStop },
      "Stop",
    );
    this.attachments = new Attachments({ onChange: () => this.update() });
    this.progress = new ProgressBar({ label: "Sending files", testid: "send-progress" });
    this.progress.el.hidden = true;
    this.el = h(
      "form",
      { class: "composer", dataset: { testid: "composer" } },
      h("label", { for: "composer-input", class: "visually-hidden" }, "Message"),
      this.attachments.list,
      this.progress.el,
      h("div", { class: "composer-box" }, this.attachments.button, this.attachments.input, this.input, this.stopButton, this.sendButton),
      h(
        "p",
        { id: "composer-hint", class: "composer-hint muted" },
        "Enter to send, Shift+Enter for a new line, ",
        h("button", { type: "button", class: "link-button", dataset: { testid: "shortcuts-open" }, onclick: onShortcuts }, "? for shortcuts"),
        ".",
      ),
    );
    this.el.addEventListener("submit", (event) => {
      event.preventDefault();
      onSend();
    });
    this.input.addEventListener("input", () => this.onInput());
    this.input.addEventListener("paste", (event) => this.attachments.paste(event));
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        onSend();
      }
    });
  }

  /** The message to send, {content, files}, or null when there is nothing to send or it cannot be sent now. */
  draft() {
    const content = this.input.value;
    const files = [...this.attachments.files];
    if ((!content.trim() && !files.length) || this.sending || this.input.disabled) return null;
    return { content, files };
  }

  /** Take files dropped anywhere on `target` (the chat). */
  acceptDrops(target) {
    this.attachments.acceptDrops(target);
  }

  /** While a message goes, nothing else is sent and its files stay as they are; with files, the upload's progress shows. */
  setSending(sending, { withFiles = false } = {}) {
    this.sending = sending;
    this.attachments.setDisabled(sending);
    this.progress.set(0, 1);
    this.progress.el.hidden = !(sending && withFiles);
    this.update();
  }

  /** `sent` of `total` bytes of the message have gone. */
  showProgress(sent, total) {
    this.progress.set(sent, total);
  }

  /** The server has the message: its text (unless it was edited meanwhile) and its files go. */
  sent(draft) {
    if (this.input.value === draft.content) {
      this.input.value = "";
      this.onInput();
    }
    this.attachments.clear();
  }

  /** Take messages or not; `why` (when not) replaces the box's placeholder. */
  setEnabled(enabled, why = null) {
    this.input.disabled = !enabled;
    this.input.placeholder = (!enabled && why) || PLACEHOLDER;
    this.update();
  }

  /** Stop shows while an answer is queued or being written. */
  setAnswering(answering) {
    if (this.stopButton.hidden === answering) this.stopButton.disabled = false;
    this.stopButton.hidden = !answering;
  }

  /** Ask for the answer to stop once: false when a stop is already on its way. */
  startStop() {
    if (this.stopButton.disabled) return false;
    this.stopButton.disabled = true;
    return true;
  }

  /** The stop was refused: it may be asked again. */
  stopFailed() {
    this.stopButton.disabled = false;
  }

  focus() {
    this.input.focus();
  }

  onInput() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, MAX_INPUT_PX)}px`;
    this.update();
  }

  update() {
    this.sendButton.disabled = this.sending || this.input.disabled || (!this.input.value.trim() && !this.attachments.files.length);
  }
}

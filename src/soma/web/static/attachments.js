// The files waiting to go with the next message: picked with the paperclip, dropped on the chat, or
// pasted into the composer. Each shows as a chip with its name, its size and a button to remove it.
// They are sent with the message (api.postMessage) and land in the chat's files; the server says
// what is too big (413), so no limit is copied here. A file added under a name already waiting is
// the same file when its size and date match (added twice), else it gets a free name, "data (2).csv",
// since the chat keeps one file per name.

import { h } from "./dom.js";
import { formatBytes } from "./format.js";
import { holdsFiles } from "./widgets.js";

export class Attachments {
  /** @param {{onChange: () => void}} options  onChange: the files waiting changed */
  constructor({ onChange }) {
    this.onChange = onChange;
    this.files = [];
    this.disabled = false;
    this.input = h("input", { type: "file", multiple: true, class: "visually-hidden", tabindex: -1, "aria-hidden": "true", dataset: { testid: "attach-input" } });
    this.input.addEventListener("change", () => {
      this.add([...this.input.files]);
      this.input.value = ""; // picking the same file again still fires `change`
    });
    this.button = h("button", {
      type: "button",
      class: "icon-button attach-button",
      title: "Attach files",
      "aria-label": "Attach files",
      dataset: { testid: "attach" },
      onclick: () => this.input.click(),
    });
    this.list = h("ul", { class: "attachments", "aria-label": "Files to send", hidden: true, dataset: { testid: "attachments" } });
  }

  /** Add files (from the picker, a drop or a paste). */
  add(files) {
    if (this.disabled || !files.length) return;
    for (const file of files) {
      const same = this.files.find((f) => f.name === file.name);
      if (same && same.size === file.size && same.lastModified === file.lastModified) continue;
      this.files.push(same ? new File([file], freeName(file.name, this.files), { type: file.type, lastModified: file.lastModified }) : file);
    }
    this.render();
  }

  remove(index) {
    this.files.splice(index, 1);
    this.render();
    // The focus goes to the chip that took its place (or the one before), or to the paperclip when none is left.
    const buttons = this.list.querySelectorAll('[data-testid="attachment-remove"]');
    (buttons[index] || buttons[buttons.length - 1] || this.button).focus();
  }

  clear() {
    this.files = [];
    this.render();
  }

  /** While a message is being sent, its files stay as they are. */
  setDisabled(disabled) {
    this.disabled = disabled;
    this.button.disabled = disabled;
    for (const button of this.list.querySelectorAll("button")) button.disabled = disabled;
  }

  /** A paste into the composer: files in the clipboard are attached; text is pasted as usual. */
  paste(event) {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    this.add(files);
    if (!event.clipboardData.types.includes("text/plain")) event.preventDefault();
  }

  /** Take files dropped anywhere on `target`, which has class `dragging` while files are held over it. */
  acceptDrops(target) {
    for (const type of ["dragenter", "dragover"]) {
      target.addEventListener(type, (event) => {
        if (!holdsFiles(event) || this.disabled) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        target.classList.add("dragging");
      });
    }
    target.addEventListener("dragleave", (event) => {
      if (!target.contains(event.relatedTarget)) target.classList.remove("dragging");
    });
    target.addEventListener("drop", (event) => {
      target.classList.remove("dragging");
      if (!holdsFiles(event)) return;
      event.preventDefault(); // not opened by the browser in place of the page
      this.add([...event.dataTransfer.files]);
    });
  }

  render() {
    this.list.replaceChildren(
      ...this.files.map((file, index) =>
        h(
          "li",
          { class: "attachment", dataset: { testid: "attachment" } },
          h("span", { class: "attachment-name", title: file.name, dataset: { testid: "attachment-name" } }, file.name),
          h("span", { class: "attachment-size", dataset: { testid: "attachment-size" } }, formatBytes(file.size)),
          h("button", {
            type: "button",
            class: "icon-button attachment-remove",
            "aria-label": `Remove ${file.name}`,
            title: "Remove",
            disabled: this.disabled,
            dataset: { testid: "attachment-remove", icon: "\u00d7" },
            onclick: () => this.remove(index),
          }),
        ),
      ),
    );
    this.list.hidden = this.files.length === 0;
    this.onChange();
  }
}

/** "data.csv" → "data (2).csv", the first such name no waiting file has. */
function freeName(name, files) {
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  for (let n = 2; ; n++) {
    const candidate = `${stem} (${n})${ext}`;
    if (!files.some((f) => f.name === candidate)) return candidate;
  }
}

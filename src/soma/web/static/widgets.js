// Small pieces the pages share: the page frame, an error banner that shows the server's own
// message, a delete button that asks first, a timestamp, a labelled form field, an upload's
// progress bar, whether a drag carries files, a copy-to-clipboard button, and a secret shown once.

import { h } from "./dom.js";
import { formatDateTime, formatFullDateTime } from "./format.js";

/**
 * A scrolling page with a header: returns {root, body}; put the page's sections in `body`.
 * `aside` goes to the right of the title (e.g. a version line).
 */
export function pageFrame({ id, title, description, aside = null }) {
  document.title = `${title} · Soma`;
  const body = h("div", { class: "sheet-body" });
  const root = h(
    "div",
    { class: "sheet-page", dataset: { testid: `${id}-page` } },
    h(
      "div",
      { class: "sheet" },
      h(
        "header",
        { class: "sheet-header" },
        h("div", { class: "sheet-heading" }, h("h1", { id: `${id}-title` }, title), h("p", { class: "muted" }, description)),
        aside,
      ),
      body,
    ),
  );
  return { root, body };
}

/** The red banner the chat page uses, for API errors: message plus code, dismissable. */
export class ErrorBanner {
  /** @param {string} testid  the banner's data-testid; its parts get `-message` and `-code` */
  constructor(testid) {
    this.text = h("p", { class: "alert-text", dataset: { testid: `${testid}-message` } });
    this.code = h("code", { class: "alert-code", dataset: { testid: `${testid}-code` } });
    this.el = h(
      "div",
      { class: "alert", role: "alert", dataset: { testid }, hidden: true },
      h("div", { class: "alert-body" }, this.text, this.code),
      h("button", { type: "button", class: "button ghost", onclick: () => this.hide() }, "Dismiss"),
    );
  }

  show(err) {
    this.text.textContent = err.message || String(err);
    this.code.textContent = err.code || "";
    this.code.hidden = !err.code;
    this.el.hidden = false;
    this.el.scrollIntoView({ block: "nearest" });
  }

  hide() {
    this.el.hidden = true;
  }
}

/**
 * A Delete button that turns into "<question> [Delete] [Cancel]" and calls onConfirm() only
 * after the second click. If it fails, the button comes back and onError(err) shows why.
 * `name` is the first button's accessible name where `label` alone does not say what it acts on.
 * Test ids: `testid`, `testid`-confirm, `testid`-cancel.
 */
export function confirmButton({ label = "Delete", name = null, question, testid, onConfirm, onError }) {
  const el = h("span", { class: "confirm" });
  const ask = h("button", { type: "button", class: "button subtle danger-text", "aria-label": name, dataset: { testid }, onclick: () => open() }, label);
  const yes = h("button", { type: "button", class: "button danger small", dataset: { testid: `${testid}-confirm` }, onclick: () => confirm() }, label);
  const no = h("button", { type: "button", class: "button subtle small", dataset: { testid: `${testid}-cancel` }, onclick: () => close(true) }, "Cancel");
  const prompt = h("span", { class: "confirm-question", role: "group", "aria-label": question }, h("span", {}, question), yes, no);
  prompt.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.stopPropagation(); // Esc takes the question back, and does nothing more (close a panel, stop an answer)
    close(true);
  });

  function open() {
    el.replaceChildren(prompt);
    no.focus();
  }
  function close(refocus) {
    yes.disabled = no.disabled = false;
    el.replaceChildren(ask);
    if (refocus) ask.focus();
  }
  async function confirm() {
    yes.disabled = no.disabled = true;
    try {
      await onConfirm();
    } catch (err) {
      close(false);
      onError(err);
    }
  }

  el.append(ask);
  return el;
}

/** A <time> showing a timestamp briefly, with the full form as its tooltip. */
export function timeElement(iso, props = {}) {
  return h("time", { datetime: iso, title: formatFullDateTime(iso), ...props }, formatDateTime(iso));
}

/**
 * The props of the box a wide table scrolls in, inside its card: a named region that takes the
 * keyboard focus, so that its hidden columns can be scrolled to without a mouse (axe: scrollable-region-focusable).
 * @param {string} labelledBy  the id of the table's heading
 */
export const scrollRegion = (labelledBy) => ({ class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": labelledBy });

/** A form field: its label above the control `id`, and an optional hint below that describes the control. */
export function labelled(id, label, control, hint = null) {
  if (hint) control.setAttribute("aria-describedby", [control.getAttribute("aria-describedby"), `${id}-help`].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field" },
    h("label", { for: id, class: "field-label" }, label),
    control,
    hint ? h("p", { id: `${id}-help`, class: "field-help muted" }, hint) : null,
  );
}

/** A thin bar for an upload's progress (role "progressbar", 0 to 100); `el` goes in the page. */
export class ProgressBar {
  /** @param {{label: string, testid: string}} options  label: what is progressing, for screen readers */
  constructor({ label, testid }) {
    this.bar = h("div", { class: "progress-bar" });
    this.el = h(
      "div",
      { class: "progress", role: "progressbar", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0, dataset: { testid } },
      this.bar,
    );
  }

  /** Show `sent` of `total` bytes; returns the whole percent shown. */
  set(sent, total) {
    const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
    this.bar.style.width = `${percent}%`;
    this.el.setAttribute("aria-valuenow", String(percent));
    return percent;
  }
}

/** Whether a drag (or drop) event carries files, rather than text or a link dragged within the page. */
export function holdsFiles(event) {
  return Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes("Files");
}

const COPIED_MS = 1500; // how long a copy button says it copied

/**
 * A button that copies `text()` to the clipboard and says so for a moment (data-copied). Icon-only
 * unless `withText` (its label is then visible); the label is always its accessible name.
 */
export function copyButton({ text, label = "Copy", testid = "copy", withText = false }) {
  const button = h(
    "button",
    { type: "button", class: `icon-button copy-button${withText ? " with-text" : ""}`, title: label, "aria-label": label, dataset: { testid } },
    withText ? h("span", { class: "copy-text" }, "Copy") : null,
  );
  let timer = null;
  button.addEventListener("click", async () => {
    const copied = await copyText(text());
    button.dataset.copied = copied ? "true" : "false";
    button.title = copied ? "Copied" : "Copying failed: select the text and copy it";
    if (withText) button.firstChild.textContent = copied ? "Copied" : "Copy failed";
    clearTimeout(timer);
    timer = setTimeout(() => {
      delete button.dataset.copied;
      button.title = label;
      if (withText) button.firstChild.textContent = "Copy";
    }, COPIED_MS);
  });
  return button;
}

/** Copy text; the Clipboard API needs a secure context, so plain http on a LAN falls back to execCommand. */
async function copyText(value) {
  try {
    await navigator.clipboard.writeText(value);
    return true;
  } catch {
    const area = h("textarea", { class: "visually-hidden", readonly: true });
    area.value = value;
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied;
  }
}

/**
 * Show a secret once in `box` (an element with class "secret-box", hidden until now): `title`, the
 * value with a Copy button, and Done, which removes it from the page for good. Used where the
 * server keeps only a digest or answers with the secret once (a new API key, a task's webhook secret).
 * Test ids: `testid`-value, -copy, -copied, -done.
 */
export function showSecret(box, { title, value, testid }) {
  const shown = h("code", { class: "secret-value", dataset: { testid: `${testid}-value` } }, value);
  const copied = h("span", { class: "muted", role: "status", dataset: { testid: `${testid}-copied` } });
  const copy = h("button", { type: "button", class: "button secondary small", dataset: { testid: `${testid}-copy` } }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
      copied.textContent = "Copied.";
    } catch {
      getSelection().selectAllChildren(shown); // no clipboard access: leave it selected for Ctrl+C
      copied.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    }
  });
  const done = h("button", { type: "button", class: "button subtle small", dataset: { testid: `${testid}-done` } }, "Done");
  done.addEventListener("click", () => {
    box.replaceChildren();
    box.hidden = true;
  });
  box.replaceChildren(h("p", { class: "secret-title" }, title), h("div", { class: "secret-row" }, shown, copy), h("div", { class: "form-actions-row" }, copied, done));
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
  copy.focus();
}

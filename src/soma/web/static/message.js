// One message's bubble: rendered Markdown when complete (plain text while it streams), the tool
// calls behind an answer above its text (steps.js), the files a question carried below its text
// (each a download link, chat-files.js), and its actions: copy, flip between versions
// (what a regenerated answer or an edited question said before), regenerate an answer, edit a
// question in place. Which bubble may regenerate or be edited is decided by the transcript; here
// the buttons only exist, hidden.

import { h } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { copyButton } from "./widgets.js";

const ROLE_LABEL = { user: "You", assistant: "Soma", system: "System" };

function article(role, dataset, ...children) {
  return h(
    "article",
    { class: `message message-${role}`, dataset: { testid: "message", role, ...dataset } },
    h("span", { class: "visually-hidden" }, `${ROLE_LABEL[role] ?? role}: `),
    ...children,
  );
}

/**
 * An answer being written: returns {el, text}, `text` being the Text node the deltas grow.
 * `steps` (steps.js), the tool calls made so far, go above the text.
 */
export function streamingBubble(steps = null) {
  const text = document.createTextNode("");
  const el = article("assistant", { state: "streaming" }, steps, h("div", { class: "content", dataset: { testid: "message-content" } }, text));
  return { el, text };
}

/**
 * A stored message. `state` goes to data-state (null: none). With `onRegenerate` it has a
 * Regenerate button, with `onEdit(message, content)` an Edit button (both hidden until shown).
 * `stepsFor(index)` gives the tool calls behind version `index` (0: the earliest), shown above its text.
 * The files it carried (`meta.attachments`) link to the chat's files through `files` (a ChatFiles).
 */
export function messageBubble(message, { state = "done", onRegenerate = null, onEdit = null, stepsFor = null, files = null } = {}) {
  const versions = [...(message.versions || []).map((v) => v.content), message.content ?? ""];
  let shown = versions.length - 1;
  const steps = stepsFor ? h("div", { class: "step-slot" }) : null;
  const content = h("div", { class: "content markdown", dataset: { testid: "message-content" } });
  const label = h("span", { class: "version-label", dataset: { testid: "version-label" } });
  const prev = h("button", { type: "button", class: "icon-button", "aria-label": "Earlier version", dataset: { testid: "version-prev", icon: "\u2039" }, onclick: () => show(shown - 1) });
  const next = h("button", { type: "button", class: "icon-button", "aria-label": "Later version", dataset: { testid: "version-next", icon: "\u203a" }, onclick: () => show(shown + 1) });
  const stopped = h("span", { class: "stopped-note", dataset: { testid: "message-stopped" } }, "Stopped");
  const actions = h(
    "div",
    { class: "message-actions" },
    copyButton({ text: () => versions[shown], label: "Copy message", testid: "copy-message" }),
    versions.length > 1 ? h("span", { class: "versions", role: "group", "aria-label": "Versions" }, prev, label, next) : null,
    onRegenerate ? actionButton("Regenerate the answer", "regenerate", "\u21bb", onRegenerate) : null,
    message.stopped ? stopped : null,
  );
  const el = article(role(message), { ...(state ? { state } : {}), messageId: String(message.id) }, steps, content, attachments(message, files), actions);
  if (onEdit) actions.append(actionButton("Edit and send again", "edit-message", "\u270e", () => editInPlace(el, content, actions, versions[versions.length - 1], (text) => onEdit(message, text))));

  function show(index) {
    shown = Math.max(0, Math.min(versions.length - 1, index));
    content.replaceChildren(renderMarkdown(versions[shown]));
    if (steps) steps.replaceChildren(...[stepsFor(shown)].filter(Boolean));
    label.textContent = `${shown + 1}/${versions.length}`;
    prev.disabled = shown === 0;
    next.disabled = shown === versions.length - 1;
    stopped.hidden = shown !== versions.length - 1;
    el.dataset.version = String(shown + 1);
  }
  show(shown);
  return el;
}

/** The files a message carried, as links; null when it carried none. */
function attachments(message, files) {
  const carried = Array.isArray(message.meta?.attachments) ? message.meta.attachments.filter((file) => file && typeof file.path === "string") : [];
  if (!carried.length) return null;
  return h(
    "ul",
    { class: "message-files", "aria-label": "Attached files", dataset: { testid: "message-files" } },
    ...carried.map((file) => h("li", { dataset: { testid: "message-file" } }, files ? files.link(file, { testid: "message-file-link", checked: true }) : file.path)),
  );
}

function role(message) {
  return message.role || "assistant";
}

function actionButton(label, testid, icon, onclick) {
  return h("button", { type: "button", class: "icon-button", title: label, "aria-label": label, hidden: true, dataset: { testid, icon }, onclick });
}

/** Swap the bubble's text for a textarea with Save and Cancel; `save(text)` rejects to keep the form open. */
function editInPlace(el, content, actions, current, save) {
  const input = h("textarea", { class: "edit-input", rows: 3, "aria-label": "Edit your message", dataset: { testid: "edit-input" } });
  input.value = current;
  const cancel = () => {
    form.replaceWith(content);
    actions.hidden = false;
    delete el.dataset.editing;
  };
  const saveButton = h("button", { type: "submit", class: "button small edit-save", dataset: { testid: "edit-save" } }, "Save and send");
  const form = h(
    "form",
    { class: "edit-form" },
    input,
    h("div", { class: "edit-actions" }, h("button", { type: "button", class: "button small edit-cancel", dataset: { testid: "edit-cancel" }, onclick: cancel }, "Cancel"), saveButton),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    saveButton.disabled = true;
    try {
      await save(input.value); // the message.updated event then draws the new version
    } catch {
      saveButton.disabled = false;
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      cancel();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  content.replaceWith(form);
  actions.hidden = true;
  el.dataset.editing = "true";
  input.focus();
}

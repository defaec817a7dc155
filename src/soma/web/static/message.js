// One message's bubble: rendered Markdown (re-rendered in place, once per animation frame, while
// an answer streams), the tool calls behind an answer above its text (steps.js), the files a
// question carried below its text (each a download link, chat-files.js), the sources an answer drew
// on under it (sources.js: each passage on demand, its `[n]` markers in the text linked to it), and
// its actions: copy, flip between versions (what a regenerated answer or an edited question said
// before), regenerate an answer, edit a question in place. Which bubble may regenerate or be edited
// is decided by the transcript; here the buttons only exist, hidden.
//
// Version counters mean the same thing on both sides of an exchange: the versions of this message
// in the branch shown. A question counts its edits; an answer counts the answers to the version of
// its question shown (the transcript passes `branchOf` and `branch`), so after an edit the question
// says 2/2 and its answer has one version until it is regenerated, and flipping the question back to
// 1/2 shows the answers that version had.

import { h } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { linkMarkers, sourceList } from "./sources.js";
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
 * An answer being written: returns {el, append(text)}. The text is Markdown, re-rendered whole (the
 * renderer builds nodes, never HTML, so a half-written tag or link stays text) at most once per
 * animation frame however many pieces arrive in it. `keep(draw)` runs each redraw, so the page can
 * keep its scroll position. `steps` (steps.js), the tool calls made so far, go above the text.
 */
export function streamingBubble(steps = null, keep = (draw) => draw()) {
  const content = h("div", { class: "content markdown", dataset: { testid: "message-content" } });
  const el = article("assistant", { state: "streaming" }, steps, content);
  let source = "";
  let frame = 0;
  const draw = () => {
    frame = 0;
    if (el.isConnected) keep(() => content.replaceChildren(renderMarkdown(source)));
  };
  return {
    el,
    append(text) {
      source += text;
      if (!frame) frame = requestAnimationFrame(draw);
    },
  };
}

/**
 * A stored message. `state` goes to data-state (null: none). With `onRegenerate` it has a
 * Regenerate button, with `onEdit(message, content)` an Edit button (both hidden until shown).
 * `stepsFor(index)` gives the tool calls behind version `index` (0: the earliest), shown above its text.
 * The files it carried (`meta.attachments`) link to the chat's files through `files` (a ChatFiles).
 * `branchOf(version)` gives the branch a version belongs to (an answer's: the version of its question it
 * answers) and `branch` the one to show (null: the latest version's); `onVersion(index, last)` hears
 * which version the reader flipped to.
 */
export function messageBubble(message, { state = "done", onRegenerate = null, onEdit = null, stepsFor = null, files = null, branchOf = null, branch = null, onVersion = null } = {}) {
  const versions = [...(message.versions || []), message].map((v) => ({ content: v.content ?? "", meta: v.meta || {}, created_at: v.created_at }));
  const latest = versions.length - 1;
  const wanted = branchOf ? branch ?? branchOf(latest) : null;
  let shown = versions.map((_, index) => index).filter((index) => !branchOf || branchOf(index) === wanted);
  if (!shown.length) shown = versions.map((_, index) => index).filter((index) => branchOf(index) === branchOf(latest)); // nothing answers that version yet
  let at = shown.length - 1; // position in `shown`
  const steps = stepsFor ? h("div", { class: "step-slot" }) : null;
  const content = h("div", { class: "content markdown", dataset: { testid: "message-content" } });
  const sources = h("div", { class: "source-slot" });
  const label = h("span", { class: "version-label", dataset: { testid: "version-label" } });
  const prev = h("button", { type: "button", class: "icon-button", "aria-label": "Earlier version", title: "Earlier version", dataset: { testid: "version-prev", icon: "\u2039" }, onclick: () => show(at - 1, true) });
  const next = h("button", { type: "button", class: "icon-button", "aria-label": "Later version", title: "Later version", dataset: { testid: "version-next", icon: "\u203a" }, onclick: () => show(at + 1, true) });
  const stopped = h("span", { class: "stopped-note", dataset: { testid: "message-stopped" } }, "Stopped");
  const actions = h(
    "div",
    { class: "message-actions" },
    copyButton({ text: () => versions[shown[at]].content, label: "Copy message", testid: "copy-message", withText: true }),
    shown.length > 1 ? h("span", { class: "versions", role: "group", "aria-label": "Versions" }, prev, label, next) : null,
    onRegenerate ? actionButton("Regenerate", "the answer", "regenerate", "\u21bb", onRegenerate) : null,
    message.stopped ? stopped : null,
  );
  const el = article(role(message), { ...(state ? { state } : {}), messageId: String(message.id) }, steps, content, attachments(message, files), sources, actions);
  if (onEdit) actions.append(actionButton("Edit", "and send again", "edit-message", "\u270e", () => editInPlace(el, content, actions, versions[latest].content, (text) => onEdit(message, text))));

  function show(position, flipped = false) {
    at = Math.max(0, Math.min(shown.length - 1, position));
    const index = shown[at];
    const anchor = `source-${message.id}-${index}`;
    const given = Array.isArray(versions[index].meta.sources) ? versions[index].meta.sources : [];
    const rendered = renderMarkdown(versions[index].content);
    linkMarkers(rendered, given, anchor);
    content.replaceChildren(rendered);
    sources.replaceChildren(...[sourceList(given, anchor)].filter(Boolean));
    if (steps) steps.replaceChildren(...[stepsFor(index)].filter(Boolean));
    label.textContent = `${at + 1}/${shown.length}`;
    prev.disabled = at === 0;
    next.disabled = at === shown.length - 1;
    stopped.hidden = index !== latest;
    el.dataset.version = String(at + 1);
    if (flipped && onVersion) onVersion(index, index === latest);
  }
  show(at);
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

/** A message action: its icon and a short visible word; its accessible name starts with that word and says more. */
function actionButton(word, more, testid, icon, onclick) {
  const name = `${word} ${more}`;
  return h("button", { type: "button", class: "icon-button with-text", title: name, "aria-label": name, hidden: true, dataset: { testid, icon }, onclick }, h("span", { class: "action-text" }, word));
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

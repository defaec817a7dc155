// The Memory page: what Soma remembers across chats. Add a memory, search them by meaning,
// edit one in place, delete one (after a confirm step), and page back with "Load more".
//
// The list is newest first, a page at a time: each answer's `next` cursor is sent back as
// `before` for the page after it. A search asks for the closest memories instead, best first, and
// shows only those at or above the agent's recall threshold (the setting `memory_threshold`, read
// with each search): a memory below it is one a turn asking those words would not recall, so calling
// it a match would mislead; how many were hidden is said. How close each match is shows in words and
// as a bar measured from that threshold (0) to identical (1), never as a raw cosine, which can be
// negative and means little to a reader.
// Members may read and search the memories; adding, editing and deleting are for admins.

import * as api from "./api.js";
import { h } from "./dom.js";
import { ErrorBanner, confirmButton, pageFrame, timeElement } from "./widgets.js";

const SEARCH_DELAY_MS = 300; // typing pause before a search is sent
const SOURCE_TEXT = { user: "Added by you", agent: "Remembered by Soma" };
// How close a match is, by where its similarity falls between the threshold (0) and identical (1).
const RELEVANCE = [
  [0.5, "Very close"],
  [0.2, "Close"],
  [0, "Related"],
];

export function createMemoryPage(outlet) {
  return new MemoryPage(outlet);
}

class MemoryPage {
  constructor(outlet) {
    this.rows = new Map(); // memory id → MemoryRow, in list order
    this.next = null; // cursor of the next page, null at the end
    this.query = ""; // the search shown ("" for the newest-first list)
    this.generation = 0; // bumped per list or search request: older answers are dropped
    this.hidden = 0; // matches of the search shown that fell below the recall threshold
    this.searchTimer = null;
    this.adding = false;
    this.destroyed = false;
    this.readOnly = !api.isAdmin();
    this.build(outlet);
    this.show("");
  }

  // ---- page interface (router.js) ----

  update() {}

  destroy() {
    this.destroyed = true;
    this.generation++;
    clearTimeout(this.searchTimer);
  }

  // ---- layout ----

  build(outlet) {
    const { root, body } = pageFrame({
      id: "memory",
      title: "Memory",
      description: "What Soma remembers across chats. The memories closest to a message are recalled into its turn.",
      aside: this.readOnly ? h("p", { class: "sheet-meta muted", dataset: { testid: "memory-read-only" } }, "Only admins can change memories.") : null,
    });
    this.error = new ErrorBanner("memory-error");

    this.newInput = h("textarea", {
      id: "memory-new",
      class: "input textarea",
      rows: 2,
      placeholder: "Something Soma should remember, e.g. “I prefer answers in metric units.”",
      dataset: { testid: "memory-new-input" },
      oninput: () => {
        this.addStatus.textContent = "";
        this.updateAddButton();
      },
    });
    this.newInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.add();
      }
    });
    this.addButton = h("button", { type: "submit", class: "button primary", disabled: true, title: "Ctrl+Enter", dataset: { testid: "memory-add" } }, "Add memory");
    this.addStatus = h("span", { class: "muted hint", role: "status", dataset: { testid: "memory-add-status" } });
    this.counter = h("span", { class: "muted char-count" });
    const addForm = h(
      "form",
      { class: "card add-memory", "aria-labelledby": "memory-new-label", dataset: { testid: "memory-add-form" } },
      h("label", { id: "memory-new-label", for: "memory-new", class: "card-title" }, "Add a memory"),
      this.newInput,
      h("div", { class: "form-actions-row" }, this.addStatus, this.counter, this.addButton),
    );
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.add();
    });

    this.search = h("input", {
      type: "search",
      id: "memory-search",
      class: "input search",
      placeholder: "Search memories by meaning…",
      autocomplete: "off",
      dataset: { testid: "memory-search" },
      oninput: () => this.onSearchInput(),
    });
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.show(this.search.value.trim());
      }
    });
    this.summary = h("p", { class: "muted list-summary", role: "status", dataset: { testid: "memory-summary" } });
    this.list = h("ul", { class: "item-list", "aria-labelledby": "memory-list-title", dataset: { testid: "memory-list" } });
    this.empty = h("div", { class: "list-empty", hidden: true, dataset: { testid: "memory-empty" } });
    this.moreButton = h("button", { type: "button", class: "button secondary", hidden: true, dataset: { testid: "memory-load-more" }, onclick: () => this.loadMore() }, "Load more");

    const listCard = h(
      "section",
      { class: "card list-card", "aria-labelledby": "memory-list-title" },
      h(
        "div",
        { class: "list-toolbar" },
        h("h2", { id: "memory-list-title", class: "card-title" }, "Memories"),
        h("label", { for: "memory-search", class: "visually-hidden" }, "Search memories"),
        this.search,
      ),
      this.summary,
      this.list,
      this.empty,
      h("div", { class: "list-more" }, this.moreButton),
    );

    this.updateAddButton();
    body.append(this.error.el, ...(this.readOnly ? [] : [addForm]), listCard);
    outlet.append(root);
  }

  // ---- the list ----

  onSearchInput() {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.show(this.search.value.trim()), SEARCH_DELAY_MS);
  }

  /** Show the newest memories (query "") or the closest matches to `query`. */
  async show(query) {
    clearTimeout(this.searchTimer);
    const generation = ++this.generation;
    this.list.setAttribute("aria-busy", "true");
    let answer;
    let threshold = null;
    try {
      [answer, threshold] = await Promise.all([api.listMemories({ query }), query ? api.getSettings().then((read) => read.settings.memory_threshold) : null]);
    } catch (err) {
      if (generation === this.generation) {
        this.list.removeAttribute("aria-busy");
        this.error.show(err);
      }
      return;
    }
    if (generation !== this.generation) return;
    this.query = query;
    this.next = query ? null : answer.next ?? null;
    this.rows.clear();
    this.list.replaceChildren();
    this.list.removeAttribute("aria-busy");
    const close = typeof threshold === "number" ? answer.memories.filter((m) => m.similarity >= threshold) : answer.memories;
    this.hidden = answer.memories.length - close.length;
    this.threshold = threshold;
    this.append(close);
  }

  async loadMore() {
    if (this.next === null) return;
    const generation = ++this.generation;
    this.moreButton.disabled = true;
    let answer;
    try {
      answer = await api.listMemories({ before: this.next });
    } catch (err) {
      if (generation === this.generation) this.error.show(err);
      return;
    } finally {
      this.moreButton.disabled = false;
    }
    if (generation !== this.generation) return;
    this.next = answer.next ?? null;
    this.append(answer.memories);
  }

  append(memories) {
    for (const memory of memories) {
      if (this.rows.has(memory.id)) continue;
      const row = this.row(memory);
      this.list.append(row.el);
    }
    this.refresh();
  }

  row(memory) {
    const row = new MemoryRow(memory, {
      readOnly: this.readOnly,
      threshold: this.threshold,
      onError: (err) => this.error.show(err),
      onDeleted: () => {
        this.rows.delete(row.memory.id);
        row.el.remove();
        this.refresh();
      },
    });
    this.rows.set(memory.id, row);
    return row;
  }

  /** The summary line, the empty state and "Load more", after the list changed. */
  refresh() {
    const count = this.rows.size;
    if (this.query) {
      const hidden = this.hidden ? ` (${this.hidden} less related ${this.hidden === 1 ? "memory" : "memories"} not shown)` : "";
      this.summary.textContent = count ? `${count} ${count === 1 ? "match" : "matches"} for “${this.query}”, best first${hidden}` : "";
    } else {
      this.summary.textContent = count ? `${count} shown, newest first` : "";
    }
    this.empty.replaceChildren(
      ...(this.query
        ? [h("h3", {}, "Nothing close"), h("p", { class: "muted" }, `No memory is close to “${this.query}”. Try other words.`)]
        : [h("h3", {}, "No memories yet"), h("p", { class: "muted" }, "Add one above, or tell Soma in a chat: “Remember that …”.")]),
    );
    this.empty.hidden = count > 0;
    this.moreButton.hidden = this.query !== "" || this.next === null;
  }

  // ---- adding ----

  updateAddButton() {
    const length = this.newInput.value.trim().length;
    const maxChars = api.meta.memories.max_chars;
    this.addButton.disabled = this.adding || length === 0;
    this.counter.textContent = `${length.toLocaleString()} / ${maxChars.toLocaleString()}`;
    this.counter.classList.toggle("over", length > maxChars);
  }

  async add() {
    const content = this.newInput.value.trim();
    if (!content || this.adding) return;
    this.adding = true;
    this.updateAddButton();
    this.error.hide();
    try {
      const memory = await api.createMemory(content);
      if (this.destroyed) return;
      if (this.newInput.value.trim() === content) this.newInput.value = "";
      // A restated fact is merged into the memory that said it, which takes the new wording.
      this.addStatus.textContent = memory.merged ? "Merged into a memory that said the same; it now has your wording." : "Added.";
      const shown = this.rows.get(memory.id);
      if (this.query) {
        this.show(this.query); // the new memory may be among the matches
      } else if (shown) {
        shown.replace(memory);
      } else if (!memory.merged) {
        // new, so the newest: on top (a merged one not on screen keeps its place further down)
        const row = this.row(memory);
        this.list.prepend(row.el);
        row.flash();
        this.refresh();
      }
    } catch (err) {
      this.error.show(err);
    } finally {
      this.adding = false;
      this.updateAddButton();
    }
  }
}

/** One memory in the list: its text and details, or (while editing) a text box. */
class MemoryRow {
  constructor(memory, { readOnly, threshold, onError, onDeleted }) {
    this.memory = memory;
    this.threshold = threshold ?? 0;
    this.readOnly = readOnly;
    this.onError = onError;
    this.onDeleted = onDeleted;
    this.el = h("li", { class: "item memory", dataset: { testid: "memory-item", memoryId: String(memory.id) } });
    this.view();
  }

  /** Show a newer version of this memory, and draw the eye to it. */
  replace(memory) {
    this.memory = { ...this.memory, ...memory };
    this.view();
    this.flash();
  }

  flash() {
    this.el.classList.remove("flash");
    void this.el.offsetWidth; // restart the animation
    this.el.classList.add("flash");
  }

  view() {
    const m = this.memory;
    const meta = [h("span", { class: `badge badge-${m.source === "agent" ? "agent" : "user"}`, dataset: { testid: "memory-source" } }, SOURCE_TEXT[m.source] ?? m.source)];
    if (m.created_at) meta.push(h("span", {}, "Added ", timeElement(m.created_at)));
    if (m.updated_at && m.updated_at !== m.created_at) meta.push(h("span", {}, "edited ", timeElement(m.updated_at)));
    if (typeof m.similarity === "number") meta.push(relevance(m.similarity, this.threshold));
    this.el.dataset.state = "view";
    this.el.replaceChildren(
      h(
        "div",
        { class: "item-main" },
        h("p", { class: "item-text", dataset: { testid: "memory-content" } }, m.content),
        h("div", { class: "item-meta muted" }, ...meta),
      ),
      this.readOnly ? null : h(
        "div",
        { class: "item-actions" },
        h("button", { type: "button", class: "button subtle", dataset: { testid: "memory-edit" }, onclick: () => this.edit() }, "Edit"),
        confirmButton({
          question: "Delete this memory?",
          testid: "memory-delete",
          onConfirm: async () => {
            await api.deleteMemory(m.id);
            this.onDeleted();
          },
          onError: this.onError,
        }),
      ),
    );
  }

  edit() {
    const input = h("textarea", { class: "input textarea", rows: 3, "aria-label": "Memory text", dataset: { testid: "memory-edit-input" } });
    input.value = this.memory.content;
    const save = h("button", { type: "submit", class: "button primary small", dataset: { testid: "memory-save" } }, "Save");
    const cancel = h("button", { type: "button", class: "button subtle small", dataset: { testid: "memory-cancel" }, onclick: () => this.view() }, "Cancel");
    const form = h("form", { class: "item-edit" }, input, h("div", { class: "form-actions-row" }, h("span", { class: "muted hint kbd-hint" }, "Ctrl+Enter to save, Esc to cancel"), cancel, save));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save(input.value.trim(), [input, save, cancel]);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.view();
      else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
    input.addEventListener("input", () => {
      save.disabled = !input.value.trim();
    });
    this.el.dataset.state = "editing";
    this.el.replaceChildren(form);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  async save(content, controls) {
    if (!content) return;
    if (content === this.memory.content) {
      this.view();
      return;
    }
    for (const control of controls) control.disabled = true;
    try {
      // The server's copy, without the similarity the old wording had to the search.
      this.memory = await api.updateMemory(this.memory.id, content);
      this.view();
    } catch (err) {
      for (const control of controls) control.disabled = false;
      this.onError(err);
    }
  }
}

/** How close a match is to the search: a word, and a bar from the recall threshold (empty) to identical (full). */
function relevance(similarity, threshold) {
  const share = threshold < 1 ? Math.min(1, Math.max(0, (similarity - threshold) / (1 - threshold))) : 1;
  const word = RELEVANCE.find(([least]) => share >= least)[1];
  const fill = h("span", { class: "relevance-fill" });
  fill.style.width = `${Math.max(8, Math.round(share * 100))}%`; // a sliver even at the threshold: it is a match
  return h(
    "span",
    { class: "relevance", dataset: { testid: "memory-relevance", relevance: word } },
    h("span", { class: "relevance-bar", "aria-hidden": "true" }, fill),
    h("span", { class: "relevance-word" }, word),
  );
}

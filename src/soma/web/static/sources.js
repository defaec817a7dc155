// The sources under an answer (its `meta.sources`, conversations/sources.py): each knowledge passage
// and memory the turn gave the model, as a disclosure whose summary names it (the file name or the
// memory's title, in `data-source-title`) and whose body is the passage, shown on demand. A passage
// the answer cites by its `[n]` marker says so; one it was given but did not cite says that too.
// The `[n]` markers in the rendered answer become links that open their source and move focus to it.
// Everything is built as elements and Text nodes: titles and passages are never parsed as markup.

import { h } from "./dom.js";

const MARKERS = /\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]/g; // "[2]" or "[1, 3]", as the prompt asks the model to cite
const SKIPPED = "a, code, pre"; // a marker inside a link or code is left as it is

/** The list of sources, or null when the answer had none; `anchor` prefixes each source's id. */
export function sourceList(sources, anchor) {
  const valid = sources.filter((s) => s && typeof s.title === "string");
  if (!valid.length) return null;
  return h(
    "div",
    { class: "sources", role: "group", "aria-label": "Sources", dataset: { testid: "sources" } },
    h("p", { class: "sources-title" }, "Sources"),
    h("ul", { class: "source-list" }, ...valid.map((source) => h("li", {}, sourceItem(source, anchor)))),
  );
}

function sourceItem(source, anchor) {
  const knowledge = source.kind === "knowledge";
  const marker = Number.isInteger(source.marker) ? source.marker : null;
  const note = knowledge ? (source.cited ? null : "not cited") : "memory";
  return h(
    "details",
    {
      class: `source source-${knowledge ? "knowledge" : "memory"}${source.cited === false ? " source-uncited" : ""}`,
      id: marker !== null ? `${anchor}-${marker}` : null,
      dataset: { testid: "source", sourceTitle: source.title, kind: source.kind ?? "", cited: String(source.cited ?? "") },
    },
    h(
      "summary",
      { class: "source-summary" },
      marker !== null ? h("span", { class: "source-marker-label" }, `[${marker}]`) : null,
      h("span", { class: "source-title" }, source.title),
      note ? h("span", { class: "source-note" }, note) : null,
    ),
    h("blockquote", { class: "source-excerpt", dataset: { testid: "source-excerpt" } }, typeof source.excerpt === "string" ? source.excerpt : ""),
  );
}

/**
 * Turn the `[n]` markers in rendered Markdown (`root`, a fragment or element) into links to their
 * sources (ids `${anchor}-${n}`); markers with no such source stay text.
 */
export function linkMarkers(root, sources, anchor) {
  const known = new Map(sources.filter((s) => s && Number.isInteger(s.marker)).map((s) => [s.marker, s]));
  if (!known.size) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement?.closest(SKIPPED) && MARKERS.test(node.data)) found.push(node);
    MARKERS.lastIndex = 0;
  }
  for (const node of found) node.replaceWith(...split(node.data, known, anchor));
}

function split(text, known, anchor) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(MARKERS)) {
    const numbers = match[1].split(/\s*[,;]\s*/).map(Number);
    if (!numbers.some((n) => known.has(n))) continue;
    parts.push(text.slice(last, match.index));
    if (numbers.length === 1) parts.push(markerLink(numbers[0], known.get(numbers[0]), anchor, `[${numbers[0]}]`));
    else {
      parts.push("[");
      numbers.forEach((n, i) => {
        if (i) parts.push(", ");
        parts.push(known.has(n) ? markerLink(n, known.get(n), anchor, String(n)) : String(n));
      });
      parts.push("]");
    }
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts.filter((part) => part !== "");
}

/** A link to source `n`, showing `text` ("[2]" alone, "2" within "[1, 2]"). */
function markerLink(n, source, anchor, text) {
  const id = `${anchor}-${n}`;
  const link = h("a", { href: `#${id}`, class: "source-link", "aria-label": `Source ${n}: ${source.title}`, dataset: { testid: "source-link", marker: String(n) } }, text);
  link.addEventListener("click", (event) => {
    event.preventDefault(); // the page's address is the router's (#/chats/…): a source is opened here instead
    const target = document.getElementById(id);
    if (!target) return;
    target.open = true;
    target.scrollIntoView({ block: "nearest" });
    target.querySelector("summary")?.focus();
  });
  return link;
}

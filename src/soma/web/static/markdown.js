// Markdown → DOM, safe by construction: every node is made with createElement or as a Text node,
// never by parsing HTML, so nothing a model or a user writes can become markup. Raw HTML in a
// message therefore shows as the text it is.
//
// Why our own renderer in the page rather than markdown-it on the server: it needs no dependency
// and no change to the stored messages or the API, it renders user messages and replayed history
// alike, and safety does not rest on configuring (or sanitising after) an HTML renderer: there is
// no HTML string anywhere to sanitise.
//
// The subset is what chat answers use: ATX headings, paragraphs (a line break is a <br>), emphasis,
// strikethrough, inline code, fenced code (highlighted, with a copy button), block quotes, nested
// lists, GFM tables, rules, links and bare URLs. Links open only for http(s) and mailto; anything
// else (javascript:, data:, relative paths) stays text. Images become a link to the image (or text).

import { h } from "./dom.js";
import { highlight } from "./highlight.js";
import { copyButton } from "./widgets.js";

/** The Markdown `source` as a DocumentFragment of elements and text nodes. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  fragment.append(...blocks(String(source ?? "").replace(/\r\n?/g, "\n").split("\n")));
  return fragment;
}

// ---- blocks ----

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])([ \t]+(.*))?$/;
const TABLE_RULE = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const BLANK = /^[ \t]*$/;

const MAX_DEPTH = 12; // quotes and lists nested deeper show as text: a hostile message cannot overflow the stack
let depth = 0;

/** Block elements for these lines. */
function blocks(lines) {
  if (depth >= MAX_DEPTH) return [h("p", {}, ...inline(lines.join("\n")))];
  depth++;
  try {
    return blocksAt(lines);
  } finally {
    depth--;
  }
}

function blocksAt(lines) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (BLANK.test(line)) {
      i++;
      continue;
    }
    const parsed = fence(lines, i) || heading(line, i) || rule(line, i) || quote(lines, i) || list(lines, i) || table(lines, i) || paragraph(lines, i);
    out.push(parsed.node);
    i = parsed.next;
  }
  return out;
}

function fence(lines, start) {
  const open = FENCE.exec(lines[start]);
  if (!open) return null;
  const marker = open[1];
  const body = [];
  let i = start + 1;
  // An unclosed fence runs to the end: that is how a streamed answer looks mid-block.
  while (i < lines.length && !isClosingFence(lines[i], marker)) body.push(lines[i++]);
  if (i >= lines.length) while (body.length && BLANK.test(body[body.length - 1])) body.pop();
  return { node: codeBlock(body.join("\n"), open[2].toLowerCase()), next: i + 1 };
}

function isClosingFence(line, marker) {
  const trimmed = line.trim();
  return trimmed.length >= marker.length && trimmed[0] === marker[0] && new RegExp(`^\\${marker[0]}+$`).test(trimmed);
}

/** A highlighted <pre><code> with its language and a copy button. */
export function codeBlock(code, language) {
  return h(
    "div",
    { class: "code-block", dataset: { testid: "code-block" } },
    h("div", { class: "code-head" }, h("span", { class: "code-lang" }, language || "text"), copyButton({ text: () => code, label: "Copy code", testid: "copy-code", withText: true })),
    h("pre", {}, h("code", { class: language ? `language-${language}` : null }, ...highlight(code, language))),
  );
}

function heading(line, i) {
  const match = HEADING.exec(line);
  return match ? { node: h(`h${match[1].length}`, {}, ...inline(match[2] || "")), next: i + 1 } : null;
}

function rule(line, i) {
  return RULE.test(line) ? { node: h("hr"), next: i + 1 } : null;
}

function quote(lines, start) {
  if (!QUOTE.test(lines[start])) return null;
  const inner = [];
  let i = start;
  for (; i < lines.length; i++) {
    const match = QUOTE.exec(lines[i]);
    if (match) inner.push(match[1]);
    else if (!BLANK.test(lines[i]) && !startsBlock(lines, i)) inner.push(lines[i]); // a lazy continuation
    else break;
  }
  return { node: h("blockquote", {}, ...blocks(inner)), next: i };
}

function list(lines, start) {
  const first = ITEM.exec(lines[start]);
  if (!first) return null;
  const ordered = /\d/.test(first[2]);
  const delimiter = first[2].slice(-1);
  const items = [];
  let i = start;
  let loose = false;
  const sameList = (line) => {
    const match = ITEM.exec(line || "");
    return match && /\d/.test(match[2]) === ordered && match[2].slice(-1) === delimiter ? match : null;
  };
  while (i < lines.length) {
    const match = sameList(lines[i]);
    if (!match) break;
    const indent = match[1].length + match[2].length + 1;
    const body = [match[4] || ""];
    i++;
    // An item goes on while lines are indented past its marker, or are lazy paragraph text.
    while (i < lines.length) {
      const line = lines[i];
      if (BLANK.test(line)) {
        const filled = nextFilled(lines, i);
        if (filled === lines.length || leadingSpaces(lines[filled]) < indent) break;
        while (i < filled - 1) body.push(lines[i++].trim());
        body.push("");
        loose = true;
      } else if (leadingSpaces(line) >= indent) body.push(line.slice(indent));
      else if (!startsBlock(lines, i) && !BLANK.test(body[body.length - 1])) body.push(line);
      else break;
      i++;
    }
    items.push(body);
    // A blank line between items makes the list loose (paragraphs in items).
    if (i < lines.length && BLANK.test(lines[i]) && sameList(lines[nextFilled(lines, i)])) {
      i = nextFilled(lines, i);
      loose = true;
    }
  }
  const start_ = ordered ? Number.parseInt(first[2], 10) : 1;
  const attrs = ordered && start_ !== 1 ? { start: start_ } : {};
  const node = h(ordered ? "ol" : "ul", attrs, ...items.map((body) => h("li", {}, ...itemContent(body, loose))));
  return { node, next: i };
}

/** A tight item's lone paragraph is shown without <p>, as Markdown renderers do. */
function itemContent(body, loose) {
  const nodes = blocks(body);
  if (loose) return nodes;
  return nodes.flatMap((node) => (node.tagName === "P" ? [...node.childNodes] : [node]));
}

/** Whether line i is a table's header row: pipes, then a delimiter row of as many cells. */
function isTable(lines, i) {
  const rule = lines[i + 1];
  return lines[i].includes("|") && rule !== undefined && rule.includes("-") && TABLE_RULE.test(rule) && cells(rule).length === cells(lines[i]).length;
}

function table(lines, start) {
  if (!isTable(lines, start)) return null;
  const head = cells(lines[start]);
  const aligns = cells(lines[start + 1]).map((c) => (c.endsWith(":") ? (c.startsWith(":") ? "center" : "right") : c.startsWith(":") ? "left" : null));
  let i = start + 2;
  const rows = [];
  while (i < lines.length && lines[i].includes("|") && !BLANK.test(lines[i])) rows.push(cells(lines[i++]));
  // A class, not a style attribute: the Content-Security-Policy refuses inline styles.
  const cell = (tag, text, col) => h(tag, { class: aligns[col] ? `align-${aligns[col]}` : null }, ...inline(text));
  const node = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...head.map((text, col) => cell("th", text, col)))),
      h("tbody", {}, ...rows.map((row) => h("tr", {}, ...head.map((_, col) => cell("td", row[col] ?? "", col))))),
    ),
  );
  return { node, next: i };
}

/** A table row's cells; `\|` is a pipe inside a cell. */
function cells(line) {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  return text.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

function paragraph(lines, start) {
  const body = [lines[start]];
  let i = start + 1;
  while (i < lines.length && !BLANK.test(lines[i]) && !startsBlock(lines, i)) body.push(lines[i++]);
  return { node: h("p", {}, ...inline(body.map((l) => l.trim()).join("\n"))), next: i };
}

/** Whether line i starts a block other than a paragraph (so it ends the paragraph before it). */
function startsBlock(lines, i) {
  const line = lines[i];
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || (ITEM.test(line) && !BLANK.test(ITEM.exec(line)[3] || "")) || isTable(lines, i);
}

/** The index of the first line at or after i that is not blank (lines.length when none). */
function nextFilled(lines, i) {
  while (i < lines.length && BLANK.test(lines[i])) i++;
  return i;
}

function leadingSpaces(line) {
  return line.length - line.replace(/^ +/, "").length;
}

// ---- inline ----

const SAFE_URL = /^(?:https?:\/\/|mailto:)[^\s]+$/i;
const BARE_URL = /^https?:\/\/[^\s<>"]+/i;
const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/;

/** Whether `url` may be a link's href: an absolute http(s) or mailto URL, nothing else. */
export function isSafeUrl(url) {
  return SAFE_URL.test(url);
}

function link(url, children) {
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, ...children);
}

/** Inline nodes (text, code, emphasis, links, line breaks) for a run of text. */
function inline(text) {
  // Where a delimiter was last looked for in vain: no closer after there, so later openers need
  // not scan again. Without it, 30,000 lone "*" took seconds (each scanning to the end).
  const misses = new Map();
  const out = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push(...withBreaks(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const parsed = inlineAt(text, i, misses);
    if (parsed) {
      flush();
      out.push(...parsed.nodes);
      i = parsed.next;
    } else if (text[i] === "\\" && PUNCTUATION.test(text[i + 1] || "")) {
      plain += text[i + 1];
      i += 2;
    } else {
      plain += text[i++];
    }
  }
  flush();
  return out;
}

function inlineAt(text, i, misses) {
  const c = text[i];
  if (c === "`") return codeSpan(text, i);
  if (c === "*" || c === "_" || c === "~") return emphasis(text, i, misses);
  if (c === "[") return linkAt(text, i, false);
  if (c === "!" && text[i + 1] === "[") return linkAt(text, i + 1, true);
  if (c === "<") return autolink(text, i);
  if ((c === "h" || c === "H") && (i === 0 || /[\s(]/.test(text[i - 1]))) return bareUrl(text, i);
  return null;
}

function codeSpan(text, i) {
  const ticks = /^`+/.exec(text.slice(i))[0];
  let j = i + ticks.length;
  while (j < text.length) {
    const close = text.indexOf(ticks, j);
    if (close < 0) return { nodes: [document.createTextNode(ticks)], next: i + ticks.length };
    if (text[close + ticks.length] !== "`" && text[close - 1] !== "`") {
      let code = text.slice(i + ticks.length, close).replace(/\n/g, " ");
      if (/^ .*[^ ].* $/.test(code)) code = code.slice(1, -1);
      return { nodes: [h("code", {}, code)], next: close + ticks.length };
    }
    j = close + ticks.length;
  }
  return null;
}

const EMPHASIS = [
  ["***", "strong em"],
  ["___", "strong em"],
  ["**", "strong"],
  ["__", "strong"],
  ["~~", "del"],
  ["*", "em"],
  ["_", "em"],
];

function emphasis(text, i, misses) {
  for (const [marker, tag] of EMPHASIS) {
    if (!text.startsWith(marker, i)) continue;
    const after = text[i + marker.length];
    if (!after || /\s/.test(after) || after === marker[0]) continue;
    if (marker[0] === "_" && i > 0 && /\w/.test(text[i - 1])) continue; // snake_case stays text
    const close = closing(text, i + marker.length, marker, misses);
    if (close < 0) continue;
    const inner = inline(text.slice(i + marker.length, close));
    const node = tag === "strong em" ? h("em", {}, h("strong", {}, ...inner)) : h(tag, {}, ...inner);
    return { nodes: [node], next: close + marker.length };
  }
  return null;
}

/** Where `marker` closes an emphasis opened before `from`, or -1; code spans in between are skipped. */
function closing(text, from, marker, misses) {
  if (from >= (misses.get(marker) ?? Infinity)) return -1;
  const found = scanForClosing(text, from, marker);
  if (found < 0) misses.set(marker, from);
  return found;
}

function scanForClosing(text, from, marker) {
  for (let j = from + 1; j <= text.length - marker.length; j++) {
    if (text[j] === "`") {
      const span = codeSpan(text, j);
      if (span) j = span.next - 1;
      continue;
    }
    if (text[j] === "\\") {
      j++;
      continue;
    }
    if (!text.startsWith(marker, j) || /\s/.test(text[j - 1])) continue;
    if (text[j + marker.length] === marker[0] && marker.length === 1) {
      j++; // part of a longer run, e.g. ** inside *…*
      continue;
    }
    if (marker[0] === "_" && /\w/.test(text[j + marker.length] || "")) continue;
    return j;
  }
  return -1;
}

/** [label](url "title") at i (the "["); an image's "!" is just before it. */
function linkAt(text, i, image) {
  const labelEnd = matching(text, i, "[", "]");
  if (labelEnd < 0 || text[labelEnd + 1] !== "(") return null;
  const urlEnd = matching(text, labelEnd + 1, "(", ")");
  if (urlEnd < 0) return null;
  const label = text.slice(i + 1, labelEnd);
  const target = text.slice(labelEnd + 2, urlEnd).trim();
  const url = (/^<([^>]*)>/.exec(target) || /^(\S*)/.exec(target))[1];
  const start = image ? i - 1 : i;
  const next = urlEnd + 1;
  if (!isSafeUrl(url)) return { nodes: [document.createTextNode(text.slice(start, next))], next };
  if (image) return { nodes: [link(url, [label || url])], next }; // never an <img>: no requests, no handlers
  return { nodes: [link(url, inline(label))], next };
}

const MAX_LINK_CHARS = 4000; // a link's label or URL longer than this is text: bounds the scan from each "["

/** The index of the bracket closing the one at i, counting nesting; -1 when none. */
function matching(text, i, open, close) {
  let depth = 0;
  const end = Math.min(text.length, i + MAX_LINK_CHARS);
  for (let j = i; j < end; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === open) depth++;
    else if (text[j] === close && --depth === 0) return j;
  }
  return -1;
}

function autolink(text, i) {
  const match = /^<([^<>\s]+)>/.exec(text.slice(i));
  if (!match || !isSafeUrl(match[1])) return null;
  return { nodes: [link(match[1], [match[1].replace(/^mailto:/i, "")])], next: i + match[0].length };
}

function bareUrl(text, i) {
  const match = BARE_URL.exec(text.slice(i));
  if (!match) return null;
  let url = match[0].replace(/[.,;:!?'"*_~]+$/, "");
  if (url.endsWith(")") && (url.match(/\(/g) || []).length < (url.match(/\)/g) || []).length) url = url.slice(0, -1);
  return { nodes: [link(url, [url])], next: i + url.length };
}

/** Text with each newline as a <br>, as chat answers mean their line breaks. */
function withBreaks(text) {
  return text.split("\n").flatMap((part, k) => (k === 0 ? [document.createTextNode(part)] : [h("br"), document.createTextNode(part)]));
}

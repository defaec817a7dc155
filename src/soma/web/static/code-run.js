// What a `run_code` call shows inside its step (steps.js): the code, labelled with its language;
// how it ended; and, under the step, the files it changed, each a download link, the PNG and JPEG
// pictures among them drawn inline (chat-files.js decides which). A call's output as `tool.output`
// events bring it (stderr set apart from stdout) is an OutputPane, which any tool's step may have.
// All of it is text from the model and from the code's own output, so it is only ever put in Text
// nodes (dom.js), never parsed as HTML.

import { h } from "./dom.js";
import { formatList, parseObject } from "./format.js";
import { codeBlock } from "./markdown.js";

export const RUN_CODE = "run_code"; // the built-in tool whose steps this draws

const LANGUAGES = { python: "python", shell: "shell" }; // run_code's languages → highlight.js's names
const REASONS = {
  timeout: "Stopped: it ran past the time limit",
  memory: "Stopped: it ran out of memory",
  workspace_full: "Stopped: the chat's files would have gone over their limit",
  killed: "Stopped before it finished",
  failed: "It could not be run",
};
const OUTPUT_END_PX = 8; // a reader this near the end of the output keeps following it

/** A call's output, growing as `tool.output` events come; `el` goes in the step's body. */
export class OutputPane {
  constructor() {
    this.pre = h("pre", { class: "step-pre code-output", tabindex: 0, "aria-label": "Output", dataset: { testid: "step-output" } });
    this.el = h("div", { class: "step-part", hidden: true }, h("div", { class: "step-label" }, "Output"), this.pre);
    this.last = null; // {stream, text}: the Text node the latest stream's pieces grow
  }

  /** Whether any output came. */
  get hasOutput() {
    return this.pre.childElementCount > 0;
  }

  /** Add a piece of output; pieces of one stream in a row share a span. */
  append(stream, text) {
    if (typeof text !== "string" || !text) return;
    const kind = stream === "stderr" ? "stderr" : "stdout";
    const follow = this.pre.scrollHeight - this.pre.scrollTop - this.pre.clientHeight < OUTPUT_END_PX;
    if (!this.last || this.last.stream !== kind) {
      const node = document.createTextNode("");
      this.pre.append(h("span", { class: `output-${kind}`, dataset: { stream: kind } }, node));
      this.last = { stream: kind, text: node };
    }
    this.last.text.appendData(text);
    this.el.hidden = false;
    if (follow) this.pre.scrollTop = this.pre.scrollHeight;
  }

  /** The call runs again (its worker died): its output starts afresh. */
  clear() {
    this.pre.replaceChildren();
    this.last = null;
    this.el.hidden = true;
  }
}

/** A run_code call's code (`code`, for the step's body), how it ended (`exit`) and the files it changed (`changed`, under the step). */
export class CodeRun {
  /** @param {import("./chat-files.js").ChatFiles | null} files  null: no chat to link its files to */
  constructor(files) {
    this.files = files;
    this.block = h("div", { class: "code-run-code", dataset: { testid: "step-code" } });
    this.code = h("div", { class: "step-part" }, h("div", { class: "step-label" }, "Code"), this.block);
    this.exit = h("p", { class: "code-exit", hidden: true, dataset: { testid: "step-exit" } });
    this.changed = h("div", { class: "code-files", hidden: true, dataset: { testid: "step-files" } });
    this.source = { code: "", language: "" };
  }

  /** Show the call's arguments, {language, code}; anything else is shown as it came. */
  describe(args) {
    const parsed = typeof args === "string" ? parseObject(args) : args;
    const code = parsed && typeof parsed.code === "string" ? parsed.code : typeof args === "string" ? args : JSON.stringify(args ?? null, null, 2);
    const language = parsed && typeof parsed.language === "string" ? parsed.language : "";
    this.source = { code, language: LANGUAGES[language] || language };
    this.block.replaceChildren(this.view());
  }

  /** The code as a highlighted block with its language and a copy button (another one for each place it shows). */
  view() {
    return codeBlock(this.source.code, this.source.language);
  }

  /** It ended: say how, from `details` {exit_code, reason, files, deleted}, and list what it changed. */
  finish(details) {
    const info = details && typeof details === "object" ? details : {};
    const ending = REASONS[info.reason] || (Number.isInteger(info.exit_code) ? `Exit code ${info.exit_code}` : "");
    this.exit.textContent = ending + (ending && (info.stdout_truncated || info.stderr_truncated) ? ". Its output was cut short." : "");
    this.exit.hidden = !ending;
    this.exit.dataset.ok = String(info.exit_code === 0 && !info.reason);
    const files = Array.isArray(info.files) ? info.files.filter((file) => file && typeof file.path === "string") : [];
    const deleted = Array.isArray(info.deleted) ? info.deleted.filter((path) => typeof path === "string") : [];
    this.changed.replaceChildren();
    if (files.length) {
      this.changed.append(
        h("div", { class: "step-label" }, files.length === 1 ? "File it wrote" : "Files it wrote"),
        h("ul", { class: "code-file-list" }, ...files.map((file) => this.fileItem(file))),
      );
    }
    if (deleted.length) this.changed.append(h("p", { class: "code-deleted muted", dataset: { testid: "step-deleted" } }, `Deleted ${formatList(deleted)}.`));
    this.changed.hidden = !files.length && !deleted.length;
  }

  fileItem(file) {
    const item = h("li", { class: "code-file", dataset: { testid: "step-file" } });
    if (this.files) item.append(...[this.files.picture(file), this.files.link(file, { checked: true })].filter(Boolean));
    else item.append(file.path);
    return item;
  }
}

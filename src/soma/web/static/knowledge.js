// The Knowledge page: files Soma can draw on. Upload by picking or dropping files (with real
// upload progress), watch each document go pending → indexing → ready (or failed, with the
// reason), download the original, delete after a confirm step.
//
// While any document is pending or indexing the list is fetched again every 2 s; rows are
// updated in place, so a delete that is waiting for its confirm click survives the refresh.
// Members may read the list and download files; uploading and deleting are for admins.

import * as api from "./api.js";
import { h } from "./dom.js";
import { formatBytes } from "./format.js";
import { confirmButton, ErrorBanner, holdsFiles, pageFrame, ProgressBar, scrollRegion, timeElement } from "./widgets.js";

const POLL_MS = 2000; // list refresh while documents are being indexed
const UPLOADED_LINGER_MS = 1500; // a finished upload's row stays this long, then the table has it
const BUSY_STATES = new Set(["pending", "indexing"]);
const STATE_TEXT = { pending: "Pending", indexing: "Indexing", ready: "Ready", failed: "Failed" };

/** The file types Soma reads (GET /v1/meta), as an `accept` list; a dropped file of another type gets the server's 415. */
function accepted() {
  const types = api.meta.knowledge.file_types; // content type → file name extensions
  return [...Object.values(types).flat(), ...Object.keys(types)].join(",");
}

export function createKnowledgePage(outlet) {
  return new KnowledgePage(outlet);
}

class KnowledgePage {
  constructor(outlet) {
    this.rows = new Map(); // document id → DocumentRow
    this.deleted = new Set(); // ids deleted here, kept out of lists fetched before the delete
    this.pollTimer = null;
    this.loading = null; // the list requests in flight, if any
    this.again = false; // the list changed while it was being fetched: fetch once more
    this.listFailed = false; // the banner shows why the list could not be fetched
    this.queue = Promise.resolve(); // uploads run one after another
    this.destroyed = false;
    this.readOnly = !api.isAdmin();
    this.build(outlet);
    this.refresh();
    this.showLimit();
  }

  // ---- page interface (router.js) ----

  update() {}

  destroy() {
    // Uploads carry on when the page is left: the files still arrive and get indexed.
    this.destroyed = true;
    clearTimeout(this.pollTimer);
  }

  // ---- layout ----

  build(outlet) {
    const { root, body } = pageFrame({
      id: "knowledge",
      title: "Knowledge",
      description: "Files Soma can draw on. Each file is split into passages and indexed; passages from ready files are added to the turns they help.",
      aside: this.readOnly ? h("p", { class: "sheet-meta muted", dataset: { testid: "knowledge-read-only" } }, "Only admins can add or delete files.") : null,
    });
    this.error = new ErrorBanner("knowledge-error");

    this.fileInput = h("input", {
      type: "file",
      id: "knowledge-file",
      class: "visually-hidden",
      multiple: true,
      accept: accepted(),
      dataset: { testid: "knowledge-file-input" },
      onchange: () => {
        this.uploadAll([...this.fileInput.files]);
        this.fileInput.value = ""; // picking the same file again still fires `change`
      },
    });
    this.limit = h("span", { dataset: { testid: "knowledge-limit" } });
    this.dropzone = h(
      "label",
      { for: "knowledge-file", class: "dropzone", dataset: { testid: "knowledge-dropzone" } },
      this.fileInput, // inside the label, so the zone shows keyboard focus
      h("span", { class: "dropzone-icon", "aria-hidden": "true" }),
      h("span", { class: "dropzone-text" }, h("strong", {}, "Drop files here"), " or ", h("span", { class: "link" }, "choose files")),
      h("span", { class: "muted dropzone-hint" }, "Text, Markdown, HTML, PDF, CSV or JSON. ", this.limit),
    );
    for (const type of ["dragenter", "dragover"]) {
      this.dropzone.addEventListener(type, (event) => {
        if (!holdsFiles(event)) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        this.dropzone.classList.add("dragging");
      });
    }
    this.dropzone.addEventListener("dragleave", (event) => {
      if (!this.dropzone.contains(event.relatedTarget)) this.dropzone.classList.remove("dragging");
    });
    this.dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.dropzone.classList.remove("dragging");
      this.uploadAll([...event.dataTransfer.files]);
    });
    this.uploads = h("ul", { class: "uploads", "aria-label": "Uploads", dataset: { testid: "knowledge-uploads" } });

    this.tbody = h("tbody", { dataset: { testid: "knowledge-list" } });
    this.table = h(
      "table",
      { class: "documents", "aria-labelledby": "knowledge-list-title", hidden: true },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Name"),
          h("th", { scope: "col", class: "num" }, "Size"),
          h("th", { scope: "col" }, "State"),
          h("th", { scope: "col", class: "num" }, "Passages"),
          h("th", { scope: "col" }, "Added"),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
        ),
      ),
      this.tbody,
    );
    this.empty = h(
      "div",
      { class: "list-empty", hidden: true, dataset: { testid: "knowledge-empty" } },
      h("h3", {}, "No files yet"),
      h("p", { class: "muted" }, "Upload a file above and Soma will use it in its answers."),
    );

    body.append(
      this.error.el,
      ...(this.readOnly ? [] : [h("section", { class: "card upload-card", "aria-label": "Upload" }, this.dropzone, this.uploads)]),
      h(
        "section",
        { class: "card list-card", "aria-labelledby": "knowledge-list-title" },
        h("div", { class: "list-toolbar" }, h("h2", { id: "knowledge-list-title", class: "card-title" }, "Files")),
        h("div", scrollRegion("knowledge-list-title"), this.table),
        this.empty,
      ),
    );
    outlet.append(root);
  }

  /** "Up to 20 MiB each", from the settings; left out if they cannot be read. */
  async showLimit() {
    try {
      const { settings } = await api.getSettings();
      if (!this.destroyed) this.limit.textContent = `Up to ${formatBytes(settings.upload_max_bytes)} each.`;
    } catch {
      // only a hint: the server still says so when a file is too large
    }
  }

  // ---- the list ----

  /** Fetch the list now; while anything is being indexed, again every POLL_MS. */
  refresh() {
    clearTimeout(this.pollTimer);
    if (this.loading) {
      this.again = true; // the answer on its way may predate what changed
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        await this.load();
      } while (this.again && !this.destroyed);
    })().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  async load() {
    clearTimeout(this.pollTimer);
    let documents;
    try {
      documents = await api.listDocuments();
    } catch (err) {
      if (this.destroyed || api.isLockdown(err)) return; // locked down: the banner says it, and polling stops
      this.error.show(err);
      this.listFailed = true;
      this.pollTimer = setTimeout(() => this.refresh(), POLL_MS * 2);
      return;
    }
    if (this.destroyed) return;
    if (this.listFailed) this.error.hide(); // that error is over
    this.listFailed = false;
    this.render(documents);
    if (documents.some((doc) => BUSY_STATES.has(doc.state))) {
      this.pollTimer = setTimeout(() => this.refresh(), POLL_MS);
    }
  }

  render(documents) {
    const seen = new Set();
    const ordered = [];
    for (const doc of documents.filter((d) => !this.deleted.has(d.id))) {
      seen.add(doc.id);
      let row = this.rows.get(doc.id);
      if (row) row.update(doc);
      else {
        row = new DocumentRow(doc, {
          readOnly: this.readOnly,
          onError: (err) => this.error.show(err),
          onDeleted: () => {
            this.deleted.add(doc.id);
            this.removeRow(doc.id);
          },
        });
        this.rows.set(doc.id, row);
      }
      ordered.push(row.el);
    }
    for (const id of [...this.rows.keys()]) if (!seen.has(id)) this.removeRow(id);
    // Rows are only moved when the order changed: moving one would take the focus from its buttons.
    const shown = [...this.tbody.children];
    if (shown.length !== ordered.length || shown.some((el, i) => el !== ordered[i])) this.tbody.replaceChildren(...ordered);
    this.updateEmpty();
  }

  removeRow(id) {
    const row = this.rows.get(id);
    if (!row) return;
    row.el.remove();
    this.rows.delete(id);
    this.updateEmpty();
  }

  updateEmpty() {
    this.table.hidden = this.rows.size === 0;
    this.empty.hidden = this.rows.size > 0;
  }

  // ---- uploading ----

  uploadAll(files) {
    for (const file of files) {
      const upload = new Upload(file);
      this.uploads.append(upload.el);
      this.queue = this.queue.then(() => this.upload(upload));
    }
  }

  async upload(upload) {
    if (upload.cancelled) return;
    let answer;
    try {
      answer = await upload.start();
    } catch (err) {
      upload.fail(err);
      return;
    }
    upload.finish(answer);
    if (!this.destroyed) await this.refresh();
  }
}

/** One file on its way up: name, size, progress bar, and Cancel (or the reason it failed). */
class Upload {
  constructor(file) {
    this.file = file;
    this.cancelled = false;
    this.request = null;
    this.progress = new ProgressBar({ label: `Uploading ${file.name}`, testid: "knowledge-progress" });
    this.status = h("span", { class: "upload-status muted", dataset: { testid: "knowledge-upload-status" } }, "Waiting…");
    this.cancelButton = h("button", { type: "button", class: "button subtle small", dataset: { testid: "knowledge-upload-cancel" }, onclick: () => this.cancel() }, "Cancel");
    this.message = h("p", { class: "upload-message", hidden: true, dataset: { testid: "knowledge-upload-message" } });
    this.el = h(
      "li",
      { class: "upload", dataset: { testid: "knowledge-upload", state: "waiting" } },
      h(
        "div",
        { class: "upload-head" },
        h("span", { class: "upload-name", title: file.name, dataset: { testid: "knowledge-upload-name" } }, file.name),
        h("span", { class: "muted upload-size" }, formatBytes(file.size)),
        this.status,
        this.cancelButton,
      ),
      this.progress.el,
      this.message,
    );
  }

  /** Send the file; resolves to {document, created}. */
  start() {
    this.setState("uploading");
    this.setProgress(0, this.file.size);
    this.request = api.uploadDocument(this.file, (sent, total) => this.setProgress(sent, total));
    return this.request.done;
  }

  setProgress(sent, total) {
    const percent = this.progress.set(sent, total);
    this.status.textContent = sent >= total ? "Processing…" : `${percent}%`;
  }

  /** Uploaded: the row goes soon, since the table shows the file; a duplicate's stays to be read. */
  finish({ document, created }) {
    this.setProgress(1, 1);
    if (created) {
      this.setState("done");
      this.status.textContent = "Uploaded";
      this.cancelButton.remove();
      setTimeout(() => this.el.remove(), UPLOADED_LINGER_MS);
    } else {
      this.setState("duplicate");
      this.status.textContent = "Already uploaded";
      this.showMessage(`This file's content is already stored, as “${document.filename}”.`);
    }
  }

  fail(err) {
    if (err.code === "upload_cancelled") {
      this.el.remove();
      return;
    }
    this.setState("failed");
    this.status.textContent = "Not uploaded";
    this.showMessage(err.message || String(err));
  }

  /** A sentence under the bar, and Cancel becomes Dismiss. */
  showMessage(text) {
    this.message.textContent = text;
    this.message.hidden = false;
    this.cancelButton.replaceWith(
      h("button", { type: "button", class: "button subtle small", dataset: { testid: "knowledge-upload-dismiss" }, onclick: () => this.el.remove() }, "Dismiss"),
    );
  }

  cancel() {
    this.cancelled = true;
    if (this.request) this.request.abort();
    else this.el.remove(); // still waiting for its turn
  }

  setState(state) {
    this.el.dataset.state = state;
  }
}

/** One document in the table, updated in place by each refresh. */
class DocumentRow {
  constructor(doc, { readOnly, onError, onDeleted }) {
    this.nameCell = h("td", { class: "doc-name" });
    this.sizeCell = h("td", { class: "num" });
    this.stateCell = h("td", { class: "doc-state" });
    this.chunksCell = h("td", { class: "num", dataset: { testid: "knowledge-chunks" } });
    this.addedCell = h("td", { class: "muted nowrap" });
    const actions = h(
      "td",
      { class: "doc-actions" },
      readOnly ? null : confirmButton({
        question: "Delete this file?",
        testid: "knowledge-delete",
        onConfirm: async () => {
          await api.deleteDocument(this.doc.id);
          onDeleted();
        },
        onError,
      }),
    );
    this.el = h(
      "tr",
      { dataset: { testid: "knowledge-row", documentId: doc.id } },
      this.nameCell,
      this.sizeCell,
      this.stateCell,
      this.chunksCell,
      this.addedCell,
      actions,
    );
    this.doc = null;
    this.update(doc);
  }

  update(doc) {
    const before = this.doc;
    this.doc = doc;
    if (!before || before.filename !== doc.filename) {
      this.nameCell.replaceChildren(
        h("a", { href: api.documentContentUrl(doc.id), download: doc.filename, title: `Download ${doc.filename}`, dataset: { testid: "knowledge-download" } }, doc.filename),
        h("span", { class: "muted doc-type" }, doc.content_type || ""),
      );
      this.sizeCell.textContent = formatBytes(doc.size_bytes);
      this.addedCell.replaceChildren(timeElement(doc.created_at));
    }
    if (!before || before.state !== doc.state || before.error !== doc.error) {
      this.el.dataset.state = doc.state;
      const badge = h("span", { class: `badge badge-${doc.state}`, dataset: { testid: "knowledge-state", state: doc.state } }, STATE_TEXT[doc.state] ?? doc.state);
      const reason = doc.state === "failed" && doc.error ? h("p", { class: "doc-error", dataset: { testid: "knowledge-doc-error" } }, doc.error) : "";
      this.stateCell.replaceChildren(badge, reason);
    }
    this.chunksCell.textContent = doc.state === "ready" ? String(doc.chunk_count) : "–";
  }
}


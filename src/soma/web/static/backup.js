// The Settings page's Backup card: download a backup of everything, and restore one in three
// steps. Upload: the server reads and checks the whole file and stages it; nothing changes yet.
// Preview: what the backup holds, which settings differ, how many chats lose their owner, and a
// choice of what becomes of the settings. Confirm: chats, memory and knowledge are replaced.
// Only admins may download or restore; members see the card with a note saying so.

import * as api from "./api.js";
import { h } from "./dom.js";
import { formatBytes, formatCount, formatList } from "./format.js";
import { ErrorBanner, ProgressBar, scrollRegion, timeElement } from "./widgets.js";

const READ_ONLY = "Only admins can download or restore backups.";

// What a backup holds, in the words the rest of the UI uses: [counts key, label, one, many].
const CONTENTS = [
  ["sessions", "Chats", "chat", "chats"],
  ["messages", "Messages", "message", "messages"],
  ["memories", "Memories", "memory", "memories"],
  ["documents", "Knowledge files", "knowledge file", "knowledge files"],
  ["files", "Chat files", "chat file", "chat files", "only-some"], // named in a summary only when there are some: few chats have files
];

// What becomes of the settings. Neither is preselected: one of them throws the current settings
// away, so the admin reads the differences above and chooses; Restore waits for that choice.
const MODES = [
  { value: "overwrite", id: "restore-mode-overwrite", label: "Overwrite settings", help: "Use the backup's settings." },
  { value: "preserve_settings", id: "restore-mode-preserve", label: "Preserve current settings", help: "Keep the settings as they are now." },
];

// A staged restore that is gone (applied or discarded elsewhere): the preview is of nothing.
const GONE = new Set(["restore_not_found", "restore_not_staged"]);

/** "3 chats, 12 messages, 4 memories and 2 knowledge files" from a counts object. */
function describeCounts(counts) {
  const named = CONTENTS.filter(([key, , , , onlySome]) => key in counts && !(onlySome && !counts[key]));
  return formatList(named.map(([key, , one, many]) => formatCount(counts[key], one, many)));
}

/** A setting's value as the preview shows it: null is the default, booleans are On/Off, long text is cut to three lines. */
function settingValue(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "default");
  if (typeof value === "boolean") return value ? "On" : "Off";
  if (value === "") return h("span", { class: "muted" }, "empty");
  return h("span", { class: "diff-value", title: String(value) }, String(value));
}

export class BackupCard {
  /**
   * @param {{settingLabels: Record<string, string>, onRestored: () => void}} options
   *   settingLabels: the Settings page's label for each setting key, for the differences
   *   onRestored: after a restore was applied (the settings may have changed)
   */
  constructor({ settingLabels, onRestored }) {
    this.settingLabels = settingLabels;
    this.onRestored = onRestored;
    this.upload = null; // the upload in flight, {done, abort}
    this.staged = null; // the restore the preview shows, as POST /v1/restores answered
    this.applying = false;
    this.destroyed = false;
    this.el = h(
      "section",
      { id: "backup", class: "card backup", "aria-labelledby": "backup-title", dataset: { testid: "settings-backup" } },
      h("h2", { id: "backup-title", class: "card-title" }, "Backup"),
      h("p", { class: "muted card-lede" }, "Download or restore Soma's chats, memory, knowledge files and settings."),
      ...(api.isAdmin() ? [this.buildDownload(), this.buildRestore()] : [h("p", { class: "muted backup-note", dataset: { testid: "backup-read-only" } }, READ_ONLY)]),
    );
  }

  /**
   * The page is left. An upload is stopped and a staged restore discarded: the card is built
   * afresh on return, so nothing could reach them again. A restore being applied carries on.
   */
  destroy() {
    this.destroyed = true;
    if (this.upload) this.upload.abort();
    if (this.staged && !this.applying) api.discardRestore(this.staged.id).catch(() => {});
  }

  // ---- layout ----

  buildDownload() {
    return h(
      "div",
      { class: "backup-download" },
      h("p", { class: "muted" }, "One .tar file of everything above. Users, API keys and secrets are not in it."),
      h("a", { href: api.backupUrl, download: "", class: "button secondary", dataset: { testid: "backup-download" } }, "Download backup"),
    );
  }

  buildRestore() {
    this.error = new ErrorBanner("restore-error");
    this.fileInput = h("input", {
      type: "file",
      id: "restore-file",
      class: "input input-file",
      accept: ".tar,application/x-tar,.zip,application/zip",
      "aria-describedby": "restore-file-help",
      dataset: { testid: "restore-file" },
      onchange: () => this.render(),
    });
    this.uploadButton = h("button", { type: "submit", class: "button primary", disabled: true, dataset: { testid: "restore-upload" } }, "Upload");
    this.pick = h(
      "form",
      { class: "restore-pick", novalidate: true, "aria-label": "Upload a backup" },
      h(
        "div",
        { class: "field" },
        h("label", { for: "restore-file", class: "field-label" }, "Backup file"),
        h("p", { id: "restore-file-help", class: "field-help muted" }, "A .tar file from Download backup or soma backup create, or an Agent Zero backup (.zip). It is checked whole before anything changes."),
        h("div", { class: "field-control" }, this.fileInput, this.uploadButton),
      ),
    );
    this.pick.addEventListener("submit", (event) => {
      event.preventDefault();
      this.stage();
    });

    this.progress = new ProgressBar({ label: "Uploading the backup", testid: "restore-progress" });
    this.percent = h("span", { class: "upload-status muted", "aria-hidden": "true", dataset: { testid: "restore-progress-text" } });
    this.uploading = h(
      "div",
      { class: "upload restore-uploading", hidden: true },
      h("div", { class: "upload-head" }, this.percent, h("button", { type: "button", class: "button subtle small", "aria-label": "Cancel the upload", dataset: { testid: "restore-upload-cancel" }, onclick: () => this.upload && this.upload.abort() }, "Cancel")),
      this.progress.el,
    );
    // Says each step as it happens (uploading, checking, restoring, restored), for everyone.
    this.status = h("p", { class: "restore-status", role: "status", dataset: { testid: "restore-status" } });
    this.reloadButton = h("button", { type: "button", class: "button secondary small", hidden: true, dataset: { testid: "restore-reload" }, onclick: () => location.reload() }, "Reload Soma");
    this.preview = h("div", { class: "restore-preview", hidden: true, dataset: { testid: "restore-preview" } });

    this.area = h(
      "div",
      { class: "inline-form restore", "aria-labelledby": "restore-title", role: "group", dataset: { testid: "restore", state: "idle" } },
      h("h3", { id: "restore-title", class: "inline-form-title" }, "Restore"),
      h("p", { class: "muted restore-lede" }, "Upload a backup to see what it holds; nothing changes until you confirm."),
      this.error.el,
      this.pick,
      h("div", { class: "restore-status-row" }, this.status, this.reloadButton),
      this.uploading,
      this.preview,
    );
    return this.area;
  }

  /** Show what the current state allows: the picker, the upload's progress, or the preview. */
  render() {
    const state = this.applying ? "applying" : this.staged ? "staged" : this.upload ? "uploading" : "idle";
    this.area.dataset.state = state;
    this.pick.hidden = state === "staged" || state === "applying";
    this.fileInput.disabled = state === "uploading";
    this.uploadButton.disabled = state !== "idle" || this.fileInput.files.length === 0;
    this.uploading.hidden = state !== "uploading";
    this.preview.hidden = !this.staged;
    if (this.staged) {
      this.applyButton.disabled = this.applying || !this.mode();
      this.cancelButton.disabled = this.applying;
      for (const radio of this.radios) radio.disabled = this.applying;
      this.applyButton.textContent = this.applying ? "Restoring…" : "Restore";
    }
  }

  // ---- upload and stage ----

  async stage() {
    const file = this.fileInput.files[0];
    if (!file || this.upload || this.staged) return;
    this.error.hide();
    this.say(`Uploading ${file.name}…`);
    this.reloadButton.hidden = true;
    this.onProgress(0, file.size);
    this.upload = api.stageRestore(file, (sent, total) => this.onProgress(sent, total));
    this.render();
    let restore;
    try {
      restore = await this.upload.done;
    } catch (err) {
      if (this.destroyed) return;
      this.upload = null;
      this.say("");
      if (err.code !== "upload_cancelled") this.error.show(err);
      this.render();
      return;
    }
    this.upload = null;
    if (this.destroyed) {
      api.discardRestore(restore.id).catch(() => {});
      return;
    }
    this.staged = restore;
    this.fileInput.value = "";
    this.say("The whole backup is checked. Nothing has changed yet.");
    this.showPreview(restore);
    this.render();
    this.previewTitle.focus();
  }

  onProgress(sent, total) {
    const percent = this.progress.set(sent, total);
    this.percent.textContent = `${percent}%`;
    if (sent >= total && total > 0) this.say("Checking the backup…"); // the server reads it whole before it answers
  }

  // ---- the preview ----

  showPreview(restore) {
    const manifest = restore.manifest;
    const counts = restore.counts || manifest.counts;
    this.previewTitle = h("h4", { id: "restore-preview-title", class: "restore-preview-title", tabindex: "-1" }, "What this backup holds");
    this.radios = MODES.map(({ value, id }) =>
      h("input", { type: "radio", class: "checkbox", name: "restore-mode", id, value, "aria-describedby": `${id}-help`, dataset: { testid: id }, onchange: () => this.render() }),
    );
    this.cancelButton = h("button", { type: "button", class: "button secondary", dataset: { testid: "restore-cancel" }, onclick: () => this.discard() }, "Cancel");
    this.applyButton = h("button", { type: "button", class: "button danger", disabled: true, dataset: { testid: "restore-apply" }, onclick: () => this.apply() }, "Restore");
    this.preview.setAttribute("aria-labelledby", "restore-preview-title");
    this.preview.replaceChildren(
      this.previewTitle,
      h(
        "p",
        { class: "muted restore-source", dataset: { testid: "restore-source" } },
        "Made ",
        timeElement(manifest.created_at, { dataset: { testid: "restore-created" } }),
        manifest.format === "agent-zero" ? " by Agent Zero " : " by Soma ",
        h("span", { dataset: { testid: "restore-version" } }, manifest.format === "agent-zero" ? manifest.agent_zero_version : manifest.soma_version),
        ` · ${restore.filename}, ${formatBytes(restore.size_bytes)}`,
      ),
      h(
        "dl",
        { class: "stats", dataset: { testid: "restore-counts" } },
        ...CONTENTS.map(([key, label]) => h("div", { class: "stat", dataset: { testid: `restore-count-${key}` } }, h("dt", {}, label), h("dd", {}, (counts[key] ?? 0).toLocaleString()))),
      ),
      ...(manifest.agent_zero ? [this.buildLeftBehind(manifest.agent_zero)] : []),
      this.buildDiff(restore.settings_diff),
      ...(restore.owners_unmatched > 0 ? [this.buildOwners(restore.owners_unmatched)] : []),
      h(
        "fieldset",
        { class: "restore-modes" },
        h("legend", { class: "field-label" }, "Settings"),
        ...MODES.map(({ id, label, help }, i) =>
          h("div", { class: "field field-check" }, this.radios[i], h("div", {}, h("label", { for: id, class: "field-label" }, label), h("p", { id: `${id}-help`, class: "field-help muted" }, help))),
        ),
      ),
      h(
        "div",
        { class: "danger-zone" },
        h("p", { dataset: { testid: "restore-warning" } }, h("strong", {}, "Chats, their files, memories and knowledge files here will be replaced by the backup's."), " Anything added since it was made is lost: download a backup first to keep it."),
        h("div", { class: "restore-actions" }, this.cancelButton, this.applyButton),
      ),
    );
  }

  /** The settings that differ, each as its current value and the backup's. */
  buildDiff(diff) {
    if (!diff.length) return h("p", { class: "muted", dataset: { testid: "restore-settings-diff" } }, "Settings are the same here and in the backup.");
    return h(
      "div",
      { class: "restore-diff", dataset: { testid: "restore-settings-diff" } },
      h("p", { id: "restore-diff-title", class: "field-label" }, formatCount(diff.length, "setting differs", "settings differ")),
      h(
        "div",
        scrollRegion("restore-diff-title"),
        h(
          "table",
          { class: "data-table", "aria-labelledby": "restore-diff-title" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Setting"), h("th", { scope: "col" }, "Now"), h("th", { scope: "col" }, "In the backup"))),
          h(
            "tbody",
            {},
            ...diff.map(({ key, current, backup }) =>
              h(
                "tr",
                { dataset: { testid: "restore-setting", key } },
                h("th", { scope: "row", class: "strong" }, this.settingLabels[key] || key, " ", h("code", { class: "cell-note muted" }, key)),
                h("td", { dataset: { testid: "restore-setting-current" } }, settingValue(current)),
                h("td", { dataset: { testid: "restore-setting-backup" } }, settingValue(backup)),
              ),
            ),
          ),
        ),
      ),
    );
  }

  /** What an Agent Zero backup holds that does not come over, each with why: dropped, skipped, and secrets (key names only). */
  buildLeftBehind(found) {
    const items = [
      ...found.dropped.map(({ what, why }) => [what, why]),
      ...found.skipped.map(({ what, why }) => [what, why]),
      ...found.secrets_not_imported.map(({ file, keys }) => [file, `never imported; it holds ${keys.length ? keys.join(", ") : "no keys"} (values not shown)`]),
    ];
    if (!items.length) return h("p", { class: "muted", dataset: { testid: "restore-left-behind" } }, "Everything in this Agent Zero backup comes over.");
    return h(
      "div",
      { class: "restore-left-behind", dataset: { testid: "restore-left-behind" } },
      h("p", { id: "restore-left-title", class: "field-label" }, "Not brought over from Agent Zero"),
      h("ul", { "aria-labelledby": "restore-left-title" }, ...items.map(([what, why]) => h("li", { dataset: { testid: "restore-left-item" } }, h("strong", {}, what), `: ${why}`))),
    );
  }

  buildOwners(count) {
    return h(
      "p",
      { class: "notice", dataset: { testid: "restore-owners" } },
      `${formatCount(count, "chat")} in the backup ${count === 1 ? "belongs" : "belong"} to someone without an account here; after the restore only admins will see ${count === 1 ? "it" : "them"}.`,
    );
  }

  /** The chosen mode, or null before a choice. */
  mode() {
    const chosen = this.radios.find((radio) => radio.checked);
    return chosen ? chosen.value : null;
  }

  // ---- apply or discard ----

  async apply() {
    const mode = this.mode();
    if (!this.staged || this.applying || !mode) return;
    this.applying = true;
    this.error.hide();
    this.say("Restoring…");
    this.render();
    let applied;
    try {
      applied = await api.applyRestore(this.staged.id, mode);
    } catch (err) {
      if (this.destroyed) return;
      this.applying = false;
      this.say("");
      this.error.show(err);
      if (GONE.has(err.code)) this.clearPreview();
      this.render();
      return;
    }
    this.applying = false;
    this.clearPreview();
    if (this.destroyed) return;
    this.say(`Restored ${describeCounts(applied.counts)}.`, "done");
    this.reloadButton.hidden = false;
    this.render();
    this.onRestored();
  }

  async discard() {
    if (!this.staged || this.applying) return;
    this.cancelButton.disabled = true;
    this.error.hide();
    try {
      await api.discardRestore(this.staged.id);
    } catch (err) {
      if (this.destroyed) return;
      if (!GONE.has(err.code)) {
        this.cancelButton.disabled = false;
        this.error.show(err);
        return;
      }
    }
    if (this.destroyed) return;
    this.clearPreview();
    this.say("");
    this.render();
    this.fileInput.focus();
  }

  clearPreview() {
    this.staged = null;
    this.radios = [];
    this.preview.replaceChildren();
  }

  /** Put a step in the status line; `done` marks the restore's success. */
  say(text, state = "") {
    this.status.textContent = text;
    this.status.dataset.state = state;
  }
}

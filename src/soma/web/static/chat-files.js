// One chat's files as the page shows them: a download link for each, and the pictures among them
// drawn inline. Shared by the Files panel (files-panel.js), a code run's step (code-run.js) and a
// message that carried attachments (message.js).
//
// A run's step and a question name files as they were then ({path, size, sha256}); the chat's
// files may have changed since (a later run wrote chart.png again, the reader deleted a file). So
// each such link is checked against the chat's files now: one gone is named, no longer a link, and
// one changed says so and is not drawn, since its picture would be another one's. The list is read
// once per change the page knows of (changed()), a burst of changes (a reload replaying many runs)
// once in all.
//
// Only PNG and JPEG are ever drawn: their name must say so, and the <img> asks for the file inline
// (`?inline=true`), which the server serves as image/png or image/jpeg only when the bytes begin as
// that type's do, anything else as an application/octet-stream attachment (nosniff); an <img> that
// does not load is removed. SVG can carry script, so it is a download link and nothing else, as is
// every other type.

import * as api from "./api.js";
import { h } from "./dom.js";
import { formatBytes } from "./format.js";

const INLINE = new Set(["png", "jpg", "jpeg"]); // the extensions drawn inline
const BATCH_MS = 100; // changes this close together are read in one listing

/** The last part of a path: what a download is named. */
export const baseName = (path) => String(path).split("/").pop();

export class ChatFiles {
  /** @param {string} chatId */
  constructor(chatId) {
    this.chatId = chatId;
    this.listing = null; // Promise of the files now, by path
    this.stale = true; // a change came after `listing` was asked for
    this.waiting = false; // `listing` is asked for but its request not yet sent: it will see any change
  }

  url(path) {
    return api.fileUrl(this.chatId, path);
  }

  /** The chat's files changed (a run finished, a message carried files, one was deleted): the next look reads them again. */
  changed() {
    this.stale = true;
  }

  /** The chat's files now, a Map by path of {path, size, modified_at, sha256}; rejects with the server's ApiError. */
  current() {
    if (this.stale && !this.waiting) {
      this.waiting = true;
      this.listing = new Promise((resolve) => setTimeout(resolve, BATCH_MS))
        .then(() => {
          this.waiting = false;
          return api.listFiles(this.chatId);
        })
        .then((files) => new Map(files.map((file) => [file.path, file])));
      this.listing.catch(() => (this.stale = true)); // a failed read is tried again next time
    }
    this.stale = false;
    return this.listing;
  }

  /**
   * A link that downloads the file, showing its path (and, `withSize`, its size when known). With
   * `checked`, the file is as it was when a run or a message named it: the link says when it
   * changed since, and becomes plain text when it is gone.
   */
  link(file, { testid = "file-link", withSize = true, checked = false } = {}) {
    const link = h(
      "a",
      { class: "file-link", href: this.url(file.path), download: baseName(file.path), title: `Download ${file.path}`, dataset: { testid, path: file.path } },
      h("span", { class: "file-name" }, file.path),
      withSize && Number.isFinite(file.size) ? h("span", { class: "file-size" }, formatBytes(file.size)) : null,
    );
    if (!checked) return link;
    const el = h("span", { class: "file-entry" }, link);
    this.now(file).then((state) => {
      if (state === "same") return;
      const note = h("span", { class: "file-note muted", dataset: { testid: "file-note" } }, state === "gone" ? "no longer in this chat" : "changed since");
      if (state === "gone") link.replaceWith(h("span", { class: "file-gone", dataset: { testid, path: file.path, state } }, h("span", { class: "file-name" }, file.path)));
      else link.dataset.state = state;
      el.append(note);
    });
    return el;
  }

  /**
   * The file as a picture, when it is a PNG or JPEG still as it was named: an <img> (alt: its
   * path) that appears once loaded, or null at once for any other kind of file. A file changed or
   * gone since, or whose bytes the server does not vouch for as a PNG or JPEG, shows nothing.
   */
  picture(file) {
    if (!INLINE.has(extension(file.path))) return null;
    const img = h("img", { class: "file-picture", alt: file.path, hidden: true, dataset: { testid: "file-picture", path: file.path } });
    img.addEventListener("load", () => (img.hidden = false));
    img.addEventListener("error", () => img.remove());
    this.now(file).then((state) => {
      // The content's hash in the address: a document reuses an image it loaded from the same URL,
      // whatever the cache headers say, and chart.png drawn again by a later run is another picture.
      if (state === "same") img.src = `${this.url(file.path)}?${new URLSearchParams({ inline: "true", ...(file.sha256 ? { sha256: file.sha256 } : {}) })}`;
      else img.remove();
    });
    return img;
  }

  /** Whether a file named by a run or a message is still as it was: "same", "changed" or "gone" ("same" when the list cannot be read). */
  async now(file) {
    let files;
    try {
      files = await this.current();
    } catch {
      return "same"; // unknown: offer the link as it is, which answers for itself
    }
    const found = files.get(file.path);
    if (!found) return "gone";
    return !file.sha256 || found.sha256 === file.sha256 ? "same" : "changed";
  }
}

function extension(path) {
  const name = baseName(path);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

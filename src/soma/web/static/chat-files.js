// One chat's files as the page shows them: a download link for each, and the pictures among them
// drawn inline. Shared by the Files panel (files-panel.js), a code run's step (code-run.js) and a
// message that carried attachments (message.js).
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

/** The last part of a path: what a download is named. */
export const baseName = (path) => String(path).split("/").pop();

export class ChatFiles {
  /** @param {string} chatId */
  constructor(chatId) {
    this.chatId = chatId;
  }

  url(path) {
    return api.fileUrl(this.chatId, path);
  }

  /** A link that downloads the file, showing its path (and, `withSize`, its size when known). */
  link(file, { testid = "file-link", withSize = true } = {}) {
    return h(
      "a",
      { class: "file-link", href: this.url(file.path), download: baseName(file.path), title: `Download ${file.path}`, dataset: { testid, path: file.path } },
      h("span", { class: "file-name" }, file.path),
      withSize && Number.isFinite(file.size) ? h("span", { class: "file-size" }, formatBytes(file.size)) : null,
    );
  }

  /**
   * The file as a picture, when it is a PNG or JPEG: an <img> (alt: its path) that appears once
   * loaded, or null at once for any other kind of file. A file gone from the chat, or whose bytes
   * the server does not vouch for as a PNG or JPEG, shows nothing.
   */
  picture(file) {
    if (!INLINE.has(extension(file.path))) return null;
    const img = h("img", { class: "file-picture", alt: file.path, hidden: true, dataset: { testid: "file-picture", path: file.path } });
    img.addEventListener("load", () => (img.hidden = false));
    img.addEventListener("error", () => img.remove());
    img.src = `${this.url(file.path)}?inline=true`;
    return img;
  }
}

function extension(path) {
  const name = baseName(path);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

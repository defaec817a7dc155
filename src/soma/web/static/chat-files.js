// One chat's files as the page shows them: a download link for each, and the pictures among them
// drawn inline. Shared by the Files panel (files-panel.js), a code run's step (code-run.js) and a
// message that carried attachments (message.js).
//
// Only PNG and JPEG are ever drawn, and only when both the name says so and the server served that
// type (nosniff: the browser must not guess). SVG can carry script, so it is a download link and
// nothing else, as is every other type. A picture is fetched as a Blob and shown from an object
// URL (the Content-Security-Policy allows `blob:` images for this): the file's own address
// answers `Content-Disposition: attachment`, which is right for the link and wrong for an <img>.

import * as api from "./api.js";
import { h } from "./dom.js";
import { formatBytes } from "./format.js";

// The extensions drawn inline and the one type each must be served as.
const INLINE = new Map([
  ["png", "image/png"],
  ["jpg", "image/jpeg"],
  ["jpeg", "image/jpeg"],
]);

/** The last part of a path: what a download is named. */
export const baseName = (path) => String(path).split("/").pop();

export class ChatFiles {
  /** @param {string} chatId */
  constructor(chatId) {
    this.chatId = chatId;
    this.images = new Map(); // "path sha256" → Promise of an object URL, or of null when it is not drawn
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
   * loaded, or null at once for any other kind of file. A file gone from the chat, or served as
   * another type, shows nothing.
   */
  picture(file) {
    if (!INLINE.has(extension(file.path))) return null;
    const img = h("img", { class: "file-picture", alt: file.path, hidden: true, dataset: { testid: "file-picture", path: file.path } });
    this.objectUrl(file).then((url) => {
      if (url) {
        img.src = url;
        img.hidden = false;
      } else img.remove();
    });
    return img;
  }

  /** The object URL of a PNG or JPEG served as such; fetched once per path and content. */
  objectUrl(file) {
    const key = `${file.path} ${file.sha256 || ""}`;
    if (!this.images.has(key)) {
      const wanted = INLINE.get(extension(file.path));
      const load = api.fetchFile(this.chatId, file.path).then(
        (found) => (found && found.type === wanted ? URL.createObjectURL(new Blob([found.blob], { type: wanted })) : null),
        () => null, // unreachable now: the link still offers the file
      );
      this.images.set(key, load);
    }
    return this.images.get(key);
  }

  /** Let go of the pictures' memory: the chat is closed. */
  dispose() {
    for (const load of this.images.values()) load.then((url) => url && URL.revokeObjectURL(url));
    this.images.clear();
  }
}

function extension(path) {
  const name = baseName(path);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

// One chat's files as the page shows them: a download link for each, and the pictures among them
// drawn inline. Shared by the Files panel (files-panel.js), a code run's step (code-run.js) and a
// message that carried attachments (message.js).
//
// Only PNG and JPEG are ever drawn, and only when the name says so, the server served that type
// (nosniff) and the bytes begin as that type's do. SVG can carry script, so it is a download link
// and nothing else, as is every other type. An <img> pointed at the file's address would draw
// whatever the browser makes of the bytes, before anything could check them; so a picture is
// fetched as a Blob, checked, and drawn from an object URL (the Content-Security-Policy allows
// `blob:` images for this, and only the page's own scripts can make one).

import * as api from "./api.js";
import { h } from "./dom.js";
import { formatBytes } from "./format.js";

// The extensions drawn inline and the one type each must be served as.
const INLINE = new Map([
  ["png", "image/png"],
  ["jpg", "image/jpeg"],
  ["jpeg", "image/jpeg"],
]);

// How each type's bytes begin: a file that does not is not drawn, whatever its name and type say.
const SIGNATURES = {
  "image/png": [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  "image/jpeg": [0xff, 0xd8, 0xff],
};

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
   * loaded, or null at once for any other kind of file. A file gone from the chat, served as
   * another type, or whose bytes are not that kind of picture shows nothing.
   */
  picture(file) {
    if (!INLINE.has(extension(file.path))) return null;
    const img = h("img", { class: "file-picture", alt: file.path, hidden: true, dataset: { testid: "file-picture", path: file.path } });
    img.addEventListener("load", () => (img.hidden = false));
    img.addEventListener("error", () => img.remove());
    this.objectUrl(file).then((url) => {
      if (url) img.src = url;
      else img.remove();
    });
    return img;
  }

  /** The object URL of a PNG or JPEG served as such, or null; fetched once per path and content. */
  objectUrl(file) {
    const key = `${file.path} ${file.sha256 || ""}`;
    if (!this.images.has(key)) {
      const wanted = INLINE.get(extension(file.path));
      const load = api.fetchFile(this.chatId, file.path).then(
        async (found) => (found && found.type === wanted && (await startsWith(found.blob, SIGNATURES[wanted])) ? URL.createObjectURL(new Blob([found.blob], { type: wanted })) : null),
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

async function startsWith(blob, bytes) {
  const head = new Uint8Array(await blob.slice(0, bytes.length).arrayBuffer());
  return head.length === bytes.length && bytes.every((byte, k) => head[k] === byte);
}

function extension(path) {
  const name = baseName(path);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

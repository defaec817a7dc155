// The agent profile a new chat starts with: a <select> beside New chat, filled from GET /v1/profiles
// and set to the server's default profile (`assistant`) while it exists. The Chats page reads
// `value` when it makes a chat, and asks `knows(name)` to mark a chat whose profile was deleted.
// When the profiles cannot be read, the picker hides and chats are made with the server's default.

import * as api from "./api.js";
import { h } from "./dom.js";

export const DEFAULT_PROFILE = "assistant"; // what POST /v1/sessions gives a chat made without one

export class ProfilePicker {
  /** @param {{onLoad: () => void}} handlers  onLoad: the profiles are known (the page may mark deleted ones) */
  constructor({ onLoad }) {
    this.onLoad = onLoad;
    this.names = null; // null until loaded
    this.select = h("select", { id: "new-chat-profile", class: "input input-select new-chat-profile", title: "The profile of new chats", dataset: { testid: "new-chat-profile" } });
    this.el = h("div", { class: "new-chat-profile-field", hidden: true }, h("label", { for: "new-chat-profile", class: "visually-hidden" }, "Profile for new chats"), this.select);
    this.load();
  }

  async load() {
    let profiles;
    try {
      profiles = await api.listProfiles();
    } catch {
      return; // an older server, or none readable: new chats get the server's default
    }
    this.names = new Set(profiles.map((profile) => profile.name));
    this.select.replaceChildren(
      ...profiles.map((profile) => h("option", { value: profile.name, title: profile.description || null }, profile.name)),
    );
    if (this.names.has(DEFAULT_PROFILE)) this.select.value = DEFAULT_PROFILE;
    this.el.hidden = profiles.length === 0;
    this.onLoad();
  }

  /** The profile to make a new chat with; null leaves it to the server. */
  get value() {
    return this.names && this.names.size ? this.select.value : null;
  }

  /** Whether profile `name` exists; undefined while the profiles are not known. */
  knows(name) {
    return this.names ? this.names.has(name) : undefined;
  }
}

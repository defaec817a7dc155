// The Chats page: the chat list on the left, the open chat on the right.
//
// A chat is rendered from its event log alone: the stream opens with ?after=0, replays the
// whole conversation (including failed turns, which GET /messages does not return), then
// follows new events. See events.js for resuming without duplicates, transcript.js for how
// events become messages, and steps.js for the tool calls shown inside an answer. The sidebar
// is chat-list.js (a drawer on narrow screens: chat-drawer.js), the header and its menu
// chat-header.js, the keyboard shortcuts shortcuts.js, the message box and the files waiting to
// go with it composer.js, the thread's scrolling thread-scroll.js, the chat's Files panel
// files-panel.js, the profile new chats start with profile-picker.js, and the child chats a
// `delegate` call makes, nested in its step, delegation.js; this module wires them to the API.
// A child chat opened by itself links back to its parent and takes no messages: its parent's
// call drives it.

import * as api from "./api.js";
import { ChatFiles } from "./chat-files.js";
import { ChatHeader } from "./chat-header.js";
import { ChatDrawer } from "./chat-drawer.js";
import { ChatList } from "./chat-list.js";
import { RUN_CODE } from "./code-run.js";
import { Composer } from "./composer.js";
import { Delegation } from "./delegation.js";
import { h } from "./dom.js";
import { SessionStream } from "./events.js";
import { FilesPanel } from "./files-panel.js";
import { ProfilePicker } from "./profile-picker.js";
import { listenForShortcuts, ShortcutsDialog } from "./shortcuts.js";
import { ThreadScroll } from "./thread-scroll.js";
import { Transcript } from "./transcript.js";
import { ErrorBanner } from "./widgets.js";

const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline, retrying…",
};
const DEFAULT_TITLE = "New chat";
const CHILD_NOTE = "This chat answers the chat that delegated to it."; // why its composer is off

export function createChatsPage(outlet, ctx) {
  return new ChatsPage(outlet, ctx);
}

class ChatsPage {
  constructor(outlet, { navigate }) {
    this.navigate = navigate;
    this.chatId = undefined; // undefined: nothing opened yet; null: no chat selected
    this.session = null;
    this.sessions = [];
    this.stream = null;
    this.transcript = null;
    this.files = null; // the open chat's ChatFiles
    this.generation = 0; // bumped on every open(); late answers for an older chat are dropped
    this.refreshTimer = null;
    this.build(outlet);
    this.stopListening = listenForShortcuts({
      stop: () => this.stop(),
      search: () => this.chatList.focusSearch(),
      help: () => this.shortcuts.open(),
    });
    this.refreshSessions();
  }

  // ---- page interface (router.js) ----

  update({ chatId }) {
    if (chatId !== this.chatId) this.open(chatId);
  }

  destroy() {
    this.generation++;
    clearTimeout(this.refreshTimer);
    this.stopListening();
    this.chatList.destroy();
    this.header.destroy();
    this.transcript?.close();
    if (this.stream) this.stream.close();
    this.stream = null;
  }

  // ---- layout ----

  build(outlet) {
    this.newChatButton = h("button", { type: "button", class: "button primary new-chat", dataset: { testid: "new-chat" }, onclick: () => this.newChat() }, "New chat");
    this.chatList = new ChatList({ defaultTitle: DEFAULT_TITLE, onSearch: () => this.refreshSessions() });
    this.profiles = new ProfilePicker({ onLoad: () => this.showProfile() });
    this.header = new ChatHeader({ onRename: (title) => this.rename(title), onDelete: () => this.deleteChat(), onFiles: () => this.toggleFiles() });
    this.filesPanel = new FilesPanel({
      onClose: (refocus) => {
        this.header.setFilesOpen(false);
        if (refocus) this.header.filesButton.focus();
      },
    });
    this.shortcuts = new ShortcutsDialog();
    this.error = new ErrorBanner("chat-error");
    this.messages = h("ol", { class: "messages", "aria-live": "polite", "aria-label": "Messages", dataset: { testid: "message-list" } });
    this.empty = h("div", { class: "empty", dataset: { testid: "chat-empty" } });
    this.scroll = new ThreadScroll(h("div", { class: "thread" }, this.empty, this.messages));

    this.composer = new Composer({ onSend: () => this.send(), onStop: () => this.stop(), onShortcuts: () => this.shortcuts.open() });

    this.chatSection = h(
      "section",
      { class: "chat", "aria-labelledby": "chat-title", dataset: { testid: "chat" } },
      this.header.el,
      this.header.lineage,
      this.scroll.el,
      h("div", { class: "chat-footer" }, this.scroll.button, this.error.el, this.composer.el),
      this.filesPanel.el,
      h("div", { class: "drop-hint", "aria-hidden": "true" }, h("p", {}, "Drop files to send them with your message")),
    );
    this.composer.acceptDrops(this.chatSection);
    const sidebar = h(
      "aside",
      { class: "sidebar", "aria-label": "Chats" },
      h("div", { class: "new-chat-row" }, this.newChatButton, this.profiles.el),
      this.chatList.search,
      this.chatList.el,
    );
    const page = h("div", { class: "chats-page", dataset: { testid: "chats-page" } }, sidebar, this.chatSection, this.shortcuts.el);
    this.drawer = new ChatDrawer(page, sidebar);
    this.header.el.prepend(this.drawer.button);
    outlet.append(page);
  }

  // ---- the chat list ----

  async refreshSessions() {
    const query = this.chatList.query;
    let sessions;
    try {
      sessions = await api.listSessions({ query });
    } catch (err) {
      this.showError(err);
      return;
    }
    if (query !== this.chatList.query) return; // the search changed meanwhile: its own answer follows
    this.sessions = sessions;
    this.renderChatList();
    const current = this.sessions.find((s) => s.id === this.chatId);
    if (current) this.setTitle(current.title);
  }

  /** Refresh the list soon (titles and order change as chats get messages). */
  refreshSessionsSoon() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refreshSessions(), 250);
  }

  renderChatList() {
    this.chatList.render(this.sessions, this.chatId);
  }

  // ---- the open chat ----

  async open(chatId) {
    const generation = ++this.generation;
    if (this.stream) this.stream.close();
    this.stream = null;
    this.transcript?.close();
    this.chatId = chatId;
    this.session = null;
    this.drawer.follow(chatId); // on a phone, a chat chosen in the drawer takes the screen
    this.hideError();
    this.files = chatId ? new ChatFiles(chatId) : null;
    this.filesPanel.show(this.files);
    this.transcript = new Transcript(this.messages, {
      onRegenerate: () => this.regenerate(),
      onEdit: (message, content) => this.edit(message, content),
      onDecide: (callId, allow) => api.decideApproval(chatId, callId, allow), // refusals show on the call itself
      files: this.files,
      nest: () => new Delegation({ onChange: (apply) => this.scroll.keeping(apply) }),
      keep: (draw) => this.scroll.keeping(draw), // a streaming answer redraws between events
    });
    this.renderChatList();
    this.setStatus(null);
    this.header.show(chatId, DEFAULT_TITLE);
    this.updateAnswering();

    if (!chatId) {
      this.setTitle(DEFAULT_TITLE);
      this.showEmpty("Start a conversation", "Type a message below, or pick a chat on the left.");
      this.composer.setEnabled(true);
      return;
    }
    const known = this.sessions.find((s) => s.id === chatId);
    this.setTitle(known ? known.title : "…");
    this.showEmpty(null);
    this.composer.setEnabled(false);
    let session;
    try {
      session = await api.getSession(chatId);
    } catch (err) {
      if (generation !== this.generation) return;
      this.setTitle("Chat not found");
      this.showEmpty("This chat cannot be opened", "Pick another chat on the left, or start a new one.");
      this.showError(err);
      return;
    }
    if (generation !== this.generation) return;
    this.session = session;
    this.setTitle(session.title);
    this.showProfile();
    this.header.setParent(session.parent_session_id || null);
    this.composer.setEnabled(!session.parent_session_id, CHILD_NOTE);
    if (session.parent_session_id) this.transcript.onRegenerate = this.transcript.onEdit = null; // refused (409 subordinate_chat): not offered
    if (session.last_event_id === 0) this.showEmpty("No messages yet", "Say hello to start.");
    this.stream = new SessionStream((after) => api.eventsUrl(chatId, after), {
      onEvent: (event) => this.onEvent(event),
      onStatus: (status) => this.setStatus(status),
      onRefused: () => api.checkSession(), // a 401 there sends the browser to the login page
    });
    this.stream.open(0);
    this.composer.focus();
  }

  onEvent(event) {
    const wroteFiles = event.type === "tool.finished" && event.data.name === RUN_CODE; // its code may have written files
    if (wroteFiles) this.files?.changed(); // before its step draws them
    this.scroll.keeping(() => {
      this.transcript.apply(event);
      this.showEmpty(null);
    });
    this.updateAnswering();
    if (event.type === "session.updated" && event.data.session) this.setTitle(event.data.session.title);
    if (["message.created", "assistant.message", "session.updated"].includes(event.type)) this.refreshSessionsSoon();
    if (wroteFiles) this.filesPanel.refreshSoon();
  }

  async newChat() {
    // An untouched chat of the chosen profile is already a new chat: don't pile up empty ones.
    const wanted = this.profiles.value; // null: the server's default
    const untouched = this.chatId && this.session && this.session.last_event_id === 0 && this.transcript.isEmpty();
    if (untouched && !this.session.parent_session_id && (wanted === null || this.session.profile === wanted)) {
      this.composer.focus();
      return;
    }
    this.newChatButton.disabled = true;
    try {
      const session = await api.createSession({ profile: wanted });
      this.sessions = [session, ...this.sessions.filter((s) => s.id !== session.id)];
      this.navigate(`#/chats/${session.id}`);
      this.refreshSessionsSoon();
    } catch (err) {
      this.showError(err);
    } finally {
      this.newChatButton.disabled = false;
    }
  }

  async send() {
    const draft = this.composer.draft();
    if (!draft) return;
    this.composer.setSending(true, { withFiles: draft.files.length > 0 });
    this.hideError();
    try {
      let chatId = this.chatId;
      if (!chatId) {
        // Sending from the empty page starts a chat.
        const session = await api.createSession({ profile: this.profiles.value });
        chatId = session.id;
        this.sessions = [session, ...this.sessions];
        this.navigate(`#/chats/${chatId}`);
      }
      const message = await api.postMessage(chatId, draft.content, draft.files, (sent, total) => this.composer.showProgress(sent, total));
      this.composer.sent(draft);
      if (this.chatId === chatId) {
        if (draft.files.length) this.files.changed();
        this.transcript.addMessage(message); // its message.created event will then be a no-op
        this.showEmpty(null);
        this.scroll.toBottom();
        if (draft.files.length) this.filesPanel.refreshSoon();
      }
      this.refreshSessionsSoon();
    } catch (err) {
      this.showError(err); // the draft and its files stay, to send again
    } finally {
      this.composer.setSending(false);
    }
  }

  /** Open or shut the open chat's Files panel. */
  toggleFiles() {
    if (this.filesPanel.isOpen) this.filesPanel.close();
    else this.filesPanel.open();
    this.header.setFilesOpen(this.filesPanel.isOpen);
  }

  /** Stop the answer being written (Stop or Esc); the text so far stays as the answer. */
  async stop() {
    if (!this.chatId || !this.transcript || !this.transcript.isAnswering() || !this.composer.startStop()) return;
    try {
      await api.stopTurn(this.chatId);
    } catch (err) {
      this.showError(err);
      this.composer.stopFailed();
    }
  }

  /** Answer the last question again; the new version arrives on the stream. */
  async regenerate() {
    this.hideError();
    try {
      await api.regenerate(this.chatId);
    } catch (err) {
      this.showError(err);
    }
  }

  /** Change the last question and answer it again; rejects (keeping the edit open) when refused. */
  async edit(message, content) {
    this.hideError();
    try {
      await api.editMessage(this.chatId, message.id, content);
    } catch (err) {
      this.showError(err);
      throw err;
    }
  }

  // ---- managing the chat ----

  async rename(title) {
    const chatId = this.chatId;
    try {
      const session = await api.renameSession(chatId, title);
      this.sessions = this.sessions.map((s) => (s.id === chatId ? { ...s, title: session.title } : s));
      this.renderChatList();
      if (this.chatId === chatId) this.setTitle(session.title);
    } catch (err) {
      this.showError(err);
      throw err;
    }
  }

  async deleteChat() {
    const chatId = this.chatId;
    try {
      await api.deleteSession(chatId);
    } catch (err) {
      this.showError(err);
      return;
    }
    this.sessions = this.sessions.filter((s) => s.id !== chatId);
    this.renderChatList();
    this.navigate("#/chats");
    this.refreshSessionsSoon();
  }

  // ---- small view helpers ----

  setTitle(title) {
    this.header.setTitle(title || DEFAULT_TITLE);
    document.title = `${title || DEFAULT_TITLE} · Soma`;
  }

  /** The open chat's profile in its header, "(deleted)" once the profiles are known and it is not among them. */
  showProfile() {
    if (this.session) this.header.setProfile(this.session.profile ?? null, this.profiles.knows(this.session.profile));
  }

  setStatus(status) {
    const el = this.header.status;
    el.hidden = !status;
    el.dataset.status = status || "";
    el.textContent = status ? STATUS_TEXT[status] : "";
  }

  /** Stop shows while an answer is queued or being written. */
  updateAnswering() {
    this.composer.setAnswering(Boolean(this.transcript && this.transcript.isAnswering()));
  }

  showEmpty(heading, text) {
    if (!heading || (this.transcript && !this.transcript.isEmpty())) {
      this.empty.hidden = true;
      return;
    }
    this.empty.replaceChildren(h("h2", {}, heading), h("p", { class: "muted" }, text));
    this.empty.hidden = false;
  }

  showError(err) {
    this.error.show(err);
  }

  hideError() {
    this.error.hide();
  }
}

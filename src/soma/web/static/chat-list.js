// The chat list in the Chats page's sidebar: a search box, then the chats grouped by the day they
// were last active (Today, Yesterday, then dates), newest first. Titles are ellipsised by CSS and
// shown whole in their tooltip. Searching asks the server (GET /v1/sessions?query=…), which
// matches titles and messages; the page owns the fetching, this module only draws and asks.

import { h } from "./dom.js";

const SEARCH_DELAY_MS = 250; // wait for a pause in typing before asking the server
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

export class ChatList {
  /**
   * @param {{defaultTitle: string, onSearch: (query: string) => void}} options
   *   onSearch: called with the trimmed query after a pause in typing ("" when cleared)
   */
  constructor({ defaultTitle, onSearch }) {
    this.defaultTitle = defaultTitle;
    this.onSearch = onSearch;
    this.timer = null;
    this.search = h("input", {
      type: "search",
      class: "input chat-search",
      placeholder: "Search chats",
      "aria-label": "Search chats",
      "aria-keyshortcuts": "Control+K",
      dataset: { testid: "chat-search" },
    });
    this.search.addEventListener("input", () => this.searchSoon());
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.search.value) {
        event.stopPropagation(); // Esc clears the search; it does not also stop an answer
        this.search.value = "";
        this.searchSoon(0);
      }
    });
    this.list = h("ul", { class: "chat-list", dataset: { testid: "chat-list" } });
    this.empty = h("p", { class: "muted chat-list-empty", hidden: true, dataset: { testid: "chat-list-empty" } }, "No chats yet.");
    this.el = h("nav", { class: "chat-nav", "aria-label": "Chat list" }, this.list, this.empty);
  }

  /** The query typed in the search box, trimmed. */
  get query() {
    return this.search.value.trim();
  }

  focusSearch() {
    this.search.focus();
    this.search.select();
  }

  searchSoon(delay = SEARCH_DELAY_MS) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onSearch(this.query), delay);
  }

  destroy() {
    clearTimeout(this.timer);
  }

  /**
   * Draw `sessions`, marking `currentId` as the open one: grouped by day, newest first, or while
   * searching, in the server's order (best match first).
   */
  render(sessions, currentId) {
    const groups = this.query ? new Map(sessions.length ? [["Matching chats", sessions]] : []) : byDay(sessions);
    this.list.replaceChildren(
      ...[...groups].map(([label, items]) =>
        h(
          "li",
          { class: "chat-group", dataset: { testid: "chat-group" } },
          h("h2", { class: "chat-group-label", dataset: { testid: "chat-group-label" } }, label),
          h("ul", { class: "chat-group-items" }, ...items.map((session) => h("li", {}, this.link(session, currentId)))),
        ),
      ),
    );
    this.empty.textContent = this.query ? "No chats match your search." : "No chats yet.";
    this.empty.hidden = sessions.length > 0;
  }

  link(session, currentId) {
    const title = session.title || this.defaultTitle;
    return h(
      "a",
      {
        href: `#/chats/${session.id}`,
        class: "chat-link",
        title,
        dataset: { testid: "chat-item", chatId: session.id },
        "aria-current": session.id === currentId ? "page" : null,
      },
      title,
    );
  }
}

/** Sessions grouped by the day they were last active, newest first: Map(label → sessions). */
function byDay(sessions) {
  const sorted = [...sessions].sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0));
  const groups = new Map();
  for (const session of sorted) {
    const label = dayLabel(session.updated_at);
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(session);
  }
  return groups;
}

/** "Today", "Yesterday", or the date, for a timestamp in the reader's time zone. */
export function dayLabel(iso, now = new Date()) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "Earlier";
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (date.getTime() >= startOfToday) return "Today";
  if (date.getTime() >= new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1).getTime()) return "Yesterday";
  return DATE.format(date);
}

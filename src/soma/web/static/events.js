// A session's event log over Server-Sent Events.
//
// Event ids are integers that only grow within a session, so "the last id applied" is the
// whole state needed to resume: the stream opens with ?after=<that id>, the browser sends
// Last-Event-ID when it reconnects by itself, and any event at or below the last applied id
// is dropped here, so nothing is ever applied twice.
//
// Under the emergency lockdown the stream stays shut (the server would refuse it): it looks again
// every REOPEN_MS without asking the server, and the page reloads when the lockdown lifts.

import * as lockdown from "./lockdown.js";

export const EVENT_TYPES = Object.freeze([
  "message.created",
  "turn.started",
  "assistant.delta",
  "assistant.message",
  "turn.failed",
  "turn.cancelled",
  "message.updated",
  "session.updated",
  "tool.approval",
  "tool.started",
  "tool.finished",
  "tool.output",
  "delegate.started",
  "delegate.finished",
]);

const REOPEN_MS = 3000; // after the server refused the stream (e.g. 503), try again this late

export class SessionStream {
  /**
   * @param {(after: number) => string} urlFor  the stream URL starting after an event id
   * @param {{onEvent: (event: {id: number, type: string, data: object}) => void,
   *          onStatus?: (status: "connecting"|"live"|"reconnecting"|"offline") => void,
   *          onRefused?: () => void}} handlers
   *   onRefused: the server answered with an error instead of a stream (EventSource cannot tell
   *   which) or ended the stream with `stream.ended`, e.g. to find out whether the login session ended
   */
  constructor(urlFor, { onEvent, onStatus = () => {}, onRefused = () => {} }) {
    this.urlFor = urlFor;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onRefused = onRefused;
    this.lastId = 0;
    this.source = null;
    this.timer = null;
    this.closed = false;
  }

  /** Start reading after event `after` (0: the whole log). */
  open(after = 0) {
    this.lastId = after;
    this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }

  connect() {
    if (this.closed) return;
    if (lockdown.isActive()) {
      this.onStatus("offline");
      this.timer = setTimeout(() => this.connect(), REOPEN_MS);
      return;
    }
    this.onStatus("connecting");
    const source = new EventSource(this.urlFor(this.lastId));
    this.source = source;
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => this.receive(type, message));
    }
    // A backup was restored: every chat was replaced, so nothing on screen can be trusted. Reload.
    source.addEventListener("restore.applied", () => {
      this.close();
      window.location.reload();
    });
    // Its credential ended (logged out, password changed, user disabled, key revoked): the server
    // closes the stream. Ask whether the login holds (a 401 goes to the login page); if it does
    // (e.g. a role change), open the stream again.
    source.addEventListener("stream.ended", () => {
      source.close();
      this.source = null;
      this.onStatus("offline");
      this.onRefused();
      this.timer = setTimeout(() => this.connect(), REOPEN_MS);
    });
    source.onopen = () => this.onStatus("live");
    source.onerror = () => {
      if (this.closed || source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The server answered with an error instead of a stream: EventSource gives up, we don't.
        this.onStatus("offline");
        this.onRefused();
        this.source = null;
        this.timer = setTimeout(() => this.connect(), REOPEN_MS);
      } else {
        this.onStatus("reconnecting"); // EventSource retries by itself, sending Last-Event-ID
      }
    };
  }

  receive(type, message) {
    if (this.closed) return;
    const id = Number.parseInt(message.lastEventId, 10);
    if (Number.isInteger(id)) {
      if (id <= this.lastId) return; // already applied
      this.lastId = id;
    }
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      console.warn(`Soma: ignoring ${type} event ${id} with data that is not JSON`);
      return;
    }
    this.onEvent({ id, type, data });
  }
}

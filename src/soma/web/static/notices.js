// The banners over every page for what breaks chat for everyone until someone acts (GET /v1/status),
// e.g. no SLM key after a restart: the banner says what to do, where otherwise every answer would
// simply fail. Asked again every half minute, so a banner goes once its cause is fixed.

import * as api from "./api.js";
import { h } from "./dom.js";

const POLL_MS = 30_000; // between two reads of /v1/status

/** Keep `container` showing one banner per notice; returns a function that stops the polling. */
export function showNotices(container) {
  let shown = "";
  async function refresh() {
    let notices;
    try {
      notices = (await api.getStatus()).notices;
    } catch {
      return; // the gateway is away or locked down: the pages say so themselves; keep what is shown
    }
    const key = JSON.stringify(notices);
    if (key === shown) return; // unchanged: do not announce the same alert again
    shown = key;
    container.replaceChildren(...notices.map(banner));
  }
  refresh();
  const timer = setInterval(refresh, POLL_MS);
  return () => clearInterval(timer);
}

function banner(notice) {
  return h(
    "div",
    { class: "alert", role: "alert", dataset: { testid: `notice-${notice.code}` } },
    h("div", { class: "alert-body" }, h("p", { class: "alert-text" }, notice.message), h("code", { class: "alert-code" }, notice.code)),
  );
}

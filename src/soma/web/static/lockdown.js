// The emergency lockdown (`soma emergency-stop`), as every page shows it: one banner over the page.
//
// The page learns of it in two cheap ways: any API answer with the error code "lockdown" (api.js
// reports it here), and one light poll of GET /v1/status/lockdown, which is public, served under
// the lockdown and answered from the gateway's memory (no query). While it is on, api.js sends
// nothing (so the cards' polls stop hitting the server) and the event streams stay shut. When it
// lifts, the app page reloads: the stop ended every login, so the reload lands on the login page,
// which itself shows the lockdown before anyone types.
//
// No import of api.js here: api.js imports this module, and the poll needs no login.

import { h } from "./dom.js";

export const CODE = "lockdown"; // the error code of every request refused under the lockdown
const PATH = "/v1/status/lockdown";
const FALLBACK = "Soma is in emergency lockdown: only `soma emergency-stop --lift` ends it.";
const POLL_MS = 2000; // the gateway knows within a second of the stop; the banner follows within 3 s

let state = { active: false, message: null };
const listeners = new Set();
let timer = null;

/** Whether the lockdown is on, as this page last learned. */
export const isActive = () => state.active;

/** The server's sentence for the lockdown (what it means, who can end it). */
export const message = () => state.message || FALLBACK;

/** Call `listener(state)` on every change; returns a function that stops it. */
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** An API answer said "lockdown" (api.js): take it as on at once, without waiting for the poll. */
export function noticed(text) {
  update({ active: true, message: text });
}

function update(next) {
  if (next.active === state.active && (next.message === state.message || !next.active)) return;
  state = { active: next.active, message: next.message || null };
  for (const listener of listeners) listener(state);
}

/** Ask the gateway once; a failure (the gateway away) keeps what was known. */
export async function check() {
  try {
    const response = await fetch(PATH, { headers: { Accept: "application/json" } });
    if (response.ok) update(await response.json());
  } catch {
    // unreachable: the pages say so themselves; keep the last state
  }
}

/** Poll the flag while the tab is visible (a hidden tab asks again as soon as it is shown). */
export function watch() {
  if (timer !== null) return;
  const next = async () => {
    if (!document.hidden) await check();
    timer = setTimeout(next, POLL_MS);
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) check();
  });
  next();
}

/** Keep `container` showing the lockdown banner while it is on (role="alert": announced when it appears). */
export function showBanner(container) {
  const render = () => container.replaceChildren(...(state.active ? [banner()] : []));
  onChange(render);
  render();
}

function banner() {
  return h(
    "div",
    { class: "alert lockdown-banner", role: "alert", dataset: { testid: "lockdown-banner" } },
    h("div", { class: "alert-body" },
      h("p", { class: "alert-text" }, message()),
      h("code", { class: "alert-code" }, CODE),
    ),
  ); // prettier-ignore
}

// The login and setup pages: post a small form as JSON, show the server's own error, then go to the app.
// Under the emergency lockdown they say so before anyone types (lockdown.js).

import * as lockdown from "./lockdown.js";

/**
 * Wire a form: on submit, `body(form)` (which may throw an Error to show) is posted to `path`;
 * on success the browser goes to the app (at the page in the URL's #/…, if any: the page the
 * browser was on when it was sent to log in), otherwise the error element shows the server's message.
 * While the lockdown is on, its banner shows in the page's #lockdown (a login tried anyway gets the server's refusal).
 */
export function wireAuthForm(form, errorEl, path, body) {
  lockdown.showBanner(document.getElementById("lockdown"));
  lockdown.watch();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorEl.hidden = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body(form)),
      });
      if (response.ok) {
        location.replace("/" + (location.hash.startsWith("#/") ? location.hash : ""));
        return;
      }
      const payload = await response.json().catch(() => null);
      if (payload && payload.error && payload.error.code === lockdown.CODE) lockdown.noticed(payload.error.message);
      throw new Error((payload && payload.error && payload.error.message) || `The gateway answered ${response.status}.`);
    } catch (err) {
      errorEl.textContent = err.message === "Failed to fetch" ? "The Soma gateway could not be reached." : err.message;
      errorEl.hidden = false;
      button.disabled = false;
    }
  });
}

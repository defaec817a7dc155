// The one-time setup page: the token comes in the URL's fragment (never sent to a server log).
// Without a session it cannot read GET /v1/meta, so it states no password rule: a password the
// server refuses comes back with the server's own message naming the rule.

import { wireAuthForm } from "./auth-form.js";

const form = document.getElementById("setup-form");
const token = location.hash.replace(/^#/, "");
history.replaceState(null, "", "/setup"); // keep the token out of the history and of screenshots
wireAuthForm(form, form.querySelector(".auth-error"), "/v1/auth/setup", (f) => {
  if (!token) throw new Error("This page needs the setup link that `soma up` printed, including the part after #.");
  if (f.password.value !== f.again.value) throw new Error("The two passwords differ.");
  return { token, username: f.username.value.trim(), password: f.password.value };
});
form.password.focus();

// The one-time setup page: the token comes in the URL's fragment (never sent to a server log).

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

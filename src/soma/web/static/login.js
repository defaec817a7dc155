// The login page: "Sign in with NAME" for single sign-on, and the password form unless the server turned it off
// (GET /v1/auth/providers); the password goes to a server-side session in a __Host- cookie.

import { wireAuthForm } from "./auth-form.js";

const form = document.getElementById("login-form");
wireAuthForm(form, form.querySelector(".auth-error"), "/v1/auth/login", (f) => ({
  username: f.username.value.trim(),
  password: f.password.value,
}));

async function offered() {
  try {
    const response = await fetch("/v1/auth/providers", { headers: { Accept: "application/json" } });
    if (response.ok) return await response.json();
  } catch {
    // the gateway is away: offer the form, whose answer will say so
  }
  return { local: true, oidc: null };
}

const providers = await offered();
if (providers.oidc) {
  const link = document.getElementById("login-sso");
  link.textContent = `Sign in with ${providers.oidc.name}`;
  // Back to the page the browser was sent here from (#/…); the server keeps only paths on this site.
  if (location.hash.startsWith("#/")) link.href += "?next=" + encodeURIComponent("/" + location.hash);
  link.parentElement.hidden = false;
}
if (providers.local) {
  form.hidden = false;
  form.username.focus();
} else {
  form.remove();
}

// The login page: username and password to a server-side session in a __Host- cookie.

import { wireAuthForm } from "./auth-form.js";

const form = document.getElementById("login-form");
wireAuthForm(form, form.querySelector(".auth-error"), "/v1/auth/login", (f) => ({
  username: f.username.value.trim(),
  password: f.password.value,
}));
form.username.focus();

// Soma's web UI: the entry module. Pages are plain ES modules; add one by adding a route here
// (with a `label` and `href` to put it in the main nav; `adminOnly` keeps it from members).
//
// Nothing starts before GET /v1/auth/me has said who is logged in (the pages' requests need its
// CSRF token, and the nav depends on the role) and GET /v1/meta has given the server's limits and
// names, which the pages read as they are built. Without a session these requests send the browser
// to /login (the gateway already redirects a page load of / there).
//
// The emergency lockdown shows as a banner over every page (lockdown.js), watched from the start;
// when it lifts the page reloads, and the login the stop ended sends it to the login page.

import { renderAccount } from "./account.js";
import { createAdminPage } from "./admin.js";
import * as api from "./api.js";
import { createChatsPage } from "./chat.js";
import { h } from "./dom.js";
import { createKnowledgePage } from "./knowledge.js";
import * as lockdown from "./lockdown.js";
import { createMemoryPage } from "./memory.js";
import { wireNavMenu } from "./nav-menu.js";
import { showNotices } from "./notices.js";
import { Router } from "./router.js";
import { createSettingsPage } from "./settings.js";
import { createTasksPage } from "./tasks.js";

const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

export const routes = [
  {
    id: "chats",
    label: "Chats",
    href: "#/chats",
    pattern: new RegExp(`^/chats(?:/(${UUID}))?/?$`),
    params: (match) => ({ chatId: match[1] ? match[1].toLowerCase() : null }),
    create: createChatsPage,
  },
  { id: "memory", label: "Memory", href: "#/memory", pattern: /^\/memory\/?$/, create: createMemoryPage },
  { id: "knowledge", label: "Knowledge", href: "#/knowledge", pattern: /^\/knowledge\/?$/, create: createKnowledgePage },
  { id: "tasks", label: "Tasks", href: "#/tasks", pattern: /^\/tasks\/?$/, create: createTasksPage },
  {
    id: "settings",
    label: "Settings",
    href: "#/settings",
    pattern: /^\/settings(?:\/(tools|profiles))?\/?$/,
    params: (match) => ({ tab: match[1] || "general" }),
    create: createSettingsPage,
  },
  { id: "admin", label: "Admin", href: "#/admin", pattern: /^\/admin\/?$/, create: createAdminPage, adminOnly: true },
];

async function start() {
  const outlet = document.getElementById("page");
  lockdown.showBanner(document.getElementById("lockdown"));
  lockdown.onChange((state) => {
    if (!state.active) location.reload(); // lifted: every page starts afresh (at /login: the stop ended the login)
  });
  lockdown.watch();
  try {
    await Promise.all([api.loadMe(), api.loadMeta()]);
  } catch (err) {
    if (err.status === 401 || api.isLockdown(err)) return; // on the way to /login, or the banner says it
    outlet.replaceChildren(
      h("div", { class: "start-error alert", role: "alert", dataset: { testid: "start-error" } }, h("p", { class: "alert-text" }, err.message)),
    );
    return;
  }
  renderAccount(document.getElementById("account"), api.me);
  showNotices(document.getElementById("notices"));
  const router = new Router({
    routes: routes.filter((route) => !route.adminOnly || api.isAdmin()),
    fallback: "#/chats",
    outlet,
    nav: document.getElementById("nav"),
  });
  wireNavMenu(document.querySelector(".nav-toggle"), document.getElementById("main-menu"));
  router.start();
}

start();

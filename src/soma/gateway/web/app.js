// Soma's web UI: the entry module. Pages are plain ES modules; add one by adding a route here
// (with a `label` and `href` to put it in the main nav).

import { createChatsPage } from "./chat.js";
import { createKnowledgePage } from "./knowledge.js";
import { createMemoryPage } from "./memory.js";
import { Router } from "./router.js";
import { createSettingsPage } from "./settings.js";

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
  { id: "settings", label: "Settings", href: "#/settings", pattern: /^\/settings\/?$/, create: createSettingsPage },
];

const router = new Router({
  routes,
  fallback: "#/chats",
  outlet: document.getElementById("page"),
  nav: document.getElementById("nav"),
});
router.start();

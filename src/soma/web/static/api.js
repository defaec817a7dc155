// The gateway's HTTP API. Every failure becomes an ApiError carrying the server's
// {"error": {"code", "message"}} so the page can show the server's own words.
//
// The browser is logged in by an HttpOnly cookie the page never sees. loadMe() reads who that
// is, with the session's CSRF token, which every state-changing request sends in X-CSRF-Token
// (in a header, never in a URL). A 401 means the session ended: the browser goes to /login.
//
// The server's limits and names (memory length, password length, roles, key scopes, file types,
// the settings' bounds) come from GET /v1/meta, read once by loadMeta(): the page never copies them.
//
// Under the emergency lockdown every request but the probes is refused (503 "lockdown"): the first
// such answer tells lockdown.js, and from then on no request is sent until the lockdown lifts; each
// fails at once with the same error, so no card keeps polling the server.

import * as lockdown from "./lockdown.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const LOGIN_PAGE = "/login";
const SAFE_METHODS = new Set(["GET", "HEAD"]);

/** The logged-in user, {username, role, scopes, csrf_token, kind}; set by loadMe(). */
export let me = null;

/** Read the caller and the session's CSRF token; call once, before any page asks for anything. */
export async function loadMe() {
  me = await request("GET", "/v1/auth/me");
  return me;
}

/** The server's limits and names (GET /v1/meta); set by loadMeta(). */
export let meta = null;

/** Read the server's limits and names; call once, before any page is built. */
export async function loadMeta() {
  meta = await request("GET", "/v1/meta");
  return meta;
}

/** What every user should know now ({notices: [{code, message}]}): the banners of notices.js. */
export const getStatus = () => request("GET", "/v1/status");

/** Ask whether the login session still holds; when it does not, the browser goes to /login. */
export async function checkSession() {
  try {
    await request("GET", "/v1/auth/me");
  } catch {
    // the 401 has been handled; any other failure is the caller's own to report
  }
}

/** Whether the caller may change memories, knowledge and settings and reach the Admin page. */
export const isAdmin = () => me !== null && me.role === "admin";

/** The headers a request with this method needs: the CSRF token unless it only reads. */
function authHeaders(method) {
  return !SAFE_METHODS.has(method) && me && me.csrf_token ? { "X-CSRF-Token": me.csrf_token } : {};
}

/** The session ended (logged out elsewhere, expired, revoked): log in again, then come back here. */
function toLogin() {
  location.replace(LOGIN_PAGE + (location.hash.startsWith("#/") ? location.hash : ""));
}

/** `body` is sent as JSON; with `raw`, it is a string of JSON sent as it is (the server judges it). */
async function request(method, path, body, { raw = false } = {}) {
  if (lockdown.isActive()) throw lockedError();
  const init = { method, headers: { Accept: "application/json", ...authHeaders(method) } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = raw ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network_error", NETWORK_ERROR);
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.status === 401) toLogin();
  if (!response.ok) throw apiError(response.status, response.statusText, payload);
  return payload;
}

/** What every request fails with while the lockdown is on, without reaching the server. */
const lockedError = () => new ApiError(503, lockdown.CODE, lockdown.message());

/** Whether `err` is the lockdown's refusal: a poll stops on it (the page reloads when the lockdown lifts). */
export const isLockdown = (err) => err instanceof ApiError && err.code === lockdown.CODE;

const NETWORK_ERROR = "The Soma gateway could not be reached. Check that it is running, then try again.";

/** The ApiError for a failed response, in the server's words when it sent {"error": …}. */
function apiError(status, statusText, payload) {
  const error = payload && payload.error;
  if (error && error.code === lockdown.CODE) lockdown.noticed(error.message);
  return new ApiError(
    status,
    (error && error.code) || "http_error",
    (error && error.message) || `The gateway answered ${status} ${statusText}.`,
  );
}

const sessionPath = (id) => `/v1/sessions/${encodeURIComponent(id)}`;

/** The caller's chats, most recently active first; with `query`, only those whose title or messages match it. */
export async function listSessions({ query = "" } = {}) {
  const path = query ? `/v1/sessions?${new URLSearchParams({ query })}` : "/v1/sessions";
  return (await request("GET", path)).sessions;
}
/** A new chat, with agent profile `profile` when given (the server's default profile otherwise). */
export function createSession({ title = null, profile = null } = {}) {
  const body = {};
  if (title) body.title = title;
  if (profile) body.profile = profile;
  return request("POST", "/v1/sessions", body);
}
export const getSession = (id) => request("GET", sessionPath(id));
export const renameSession = (id, title) => request("PATCH", sessionPath(id), { title });
export const deleteSession = (id) => request("DELETE", sessionPath(id));
export const listMessages = async (id) => (await request("GET", `${sessionPath(id)}/messages`)).messages;
/**
 * Send a message. With files it goes as multipart/form-data (`content` and one `files` part per
 * file), which lands them in the chat's files; `onProgress(sent, total)` follows the upload.
 * Resolves to the stored message; a refusal (413 too big, 422) rejects with the server's words.
 */
export function postMessage(id, content, files = [], onProgress = () => {}) {
  if (!files.length) return request("POST", `${sessionPath(id)}/messages`, { content });
  const form = new FormData();
  form.append("content", content);
  for (const file of files) form.append("files", file, file.name);
  return send("POST", `${sessionPath(id)}/messages`, form, onProgress).done.then(({ payload }) => payload);
}
/** Ask the running answer to stop; what was streamed so far is kept as the answer. */
export const stopTurn = (id) => request("POST", `${sessionPath(id)}/stop`);
/** Answer the last question again; the answer it replaces is kept as an earlier version. */
export const regenerate = (id) => request("POST", `${sessionPath(id)}/regenerate`);
/** Change the last question and answer it again; both earlier texts are kept as versions. */
export const editMessage = (id, messageId, content) =>
  request("PATCH", `${sessionPath(id)}/messages/${encodeURIComponent(messageId)}`, { content });
/** Allow or deny a tool call that waits for approval (a `tool.approval` event); the call's own events follow. */
export const decideApproval = (id, callId, allow) => request("POST", `${sessionPath(id)}/approvals/${encodeURIComponent(callId)}`, { allow });
/** Where the whole chat downloads from, as "markdown" or "json" (an attachment named by the server). */
export const exportUrl = (id, format) => `${sessionPath(id)}/export?${new URLSearchParams({ format })}`;

/** The SSE URL of a session's event log, starting after event `after`. */
export const eventsUrl = (id, after) => `${sessionPath(id)}/events?after=${after}`;

// ---- a chat's files (its workspace) ----

/** A file's address: each segment of its path encoded, the slashes kept. */
export const fileUrl = (id, path) => `${sessionPath(id)}/files/${String(path).split("/").map(encodeURIComponent).join("/")}`;
/** The chat's files, sorted by path: [{path, size, modified_at, sha256}]. */
export const listFiles = async (id) => (await request("GET", `${sessionPath(id)}/files`)).files;
export const deleteFile = (id, path) => request("DELETE", fileUrl(id, path));

// ---- settings ----

export const getSettings = () => request("GET", "/v1/settings");
/** Change some settings (only the keys given); answers the whole settings document. */
export const updateSettings = (changes) => request("PUT", "/v1/settings", changes);

// ---- tools ----

const toolServerPath = (name) => `/v1/tools/servers/${encodeURIComponent(name)}`;

/** The tool servers with their state and error, and every tool with its switches: {servers, tools}. */
export const listTools = () => request("GET", "/v1/tools");
/** Switch a tool on or off and say whether its calls ask first: {enabled, approval}. */
export const updateTool = (server, name, changes) =>
  request("PATCH", `/v1/tools/${encodeURIComponent(server)}/${encodeURIComponent(name)}`, changes);
/** The configured tool servers as the {"mcpServers": …} JSON other MCP clients use (admins only). */
export const exportToolServers = () => request("GET", "/v1/tools/servers");
/** Replace every tool server with those of an {"mcpServers": …} document, sent as the admin typed it; answers as listTools. */
export const importToolServers = (text) => request("PUT", "/v1/tools/servers", text, { raw: true });
export const removeToolServer = (name) => request("DELETE", toolServerPath(name));

// ---- agent profiles ----

const profilePath = (name) => `/v1/profiles/${encodeURIComponent(name)}`;

/** Every agent profile, by name: [{name, description, system_prompt, model, tools, max_tool_steps}]. */
export const listProfiles = async () => (await request("GET", "/v1/profiles")).profiles;
export const createProfile = (profile) => request("POST", "/v1/profiles", profile);
/** Replace profile `name` whole (admins); answers the profile as stored. */
export const replaceProfile = (name, profile) => request("PUT", profilePath(name), profile);
/** Delete a profile (admins); refused (409 profile_in_use) while a task uses it. */
export const deleteProfile = (name) => request("DELETE", profilePath(name));

// ---- scheduled tasks ----

const taskPath = (id) => `/v1/tasks/${encodeURIComponent(id)}`;

/** The tasks the caller may see (their own; an admin's list as the server decides), with their unread counts and last runs. */
export const listTasks = async () => (await request("GET", "/v1/tasks")).tasks;
/** A new task; when it has a webhook_url, the answer holds `webhook_secret`, which no later answer repeats. */
export const createTask = (task) => request("POST", "/v1/tasks", task);
/** Change some of a task's fields (or `{rotate_webhook_secret: true}`, answered with the new secret once). */
export const updateTask = (id, changes) => request("PATCH", taskPath(id), changes);
export const deleteTask = (id) => request("DELETE", taskPath(id));
/** Run the task now, outside its schedule: answers {run}. */
export const runTask = (id) => request("POST", `${taskPath(id)}/run`);
/** The task's runs, newest first. */
export const listTaskRuns = async (id) => (await request("GET", `${taskPath(id)}/runs`)).runs;
/** Mark the task's finished runs read (its unread badge goes). */
export const markTaskRead = (id) => request("POST", `${taskPath(id)}/read`);

// ---- memories ----

const memoryPath = (id) => `/v1/memories/${encodeURIComponent(id)}`;

/** A page of memories, newest first ({memories, next}); with `query`, the closest matches instead. The server sizes the page. */
export function listMemories({ before = null, query = null } = {}) {
  const params = new URLSearchParams();
  if (before !== null) params.set("before", before);
  if (query) params.set("query", query);
  return request("GET", params.size ? `/v1/memories?${params}` : "/v1/memories");
}
export const createMemory = (content) => request("POST", "/v1/memories", { content });
export const updateMemory = (id, content) => request("PATCH", memoryPath(id), { content });
export const deleteMemory = (id) => request("DELETE", memoryPath(id));

// ---- knowledge ----

const documentPath = (id) => `/v1/knowledge/${encodeURIComponent(id)}`;

export const listDocuments = async () => (await request("GET", "/v1/knowledge")).documents;
export const deleteDocument = (id) => request("DELETE", documentPath(id));
/** Where a document's original file downloads from. */
export const documentContentUrl = (id) => `${documentPath(id)}/content`;

/**
 * Upload one knowledge file, with progress (see uploadFile). `done` resolves to {document, created}:
 * created is false when the same content was already stored, and that document is returned.
 * @param {File} file
 * @param {(sent: number, total: number) => void} onProgress
 */
export function uploadDocument(file, onProgress) {
  const { done, abort } = uploadFile("/v1/knowledge", file, onProgress);
  return { done: done.then(({ status, payload }) => ({ document: payload, created: status === 202 })), abort };
}

// ---- backups and restores ----

/** Where an admin downloads a backup of everything (an attachment, named by the server). */
export const backupUrl = "/v1/backup";

const restorePath = (id) => `/v1/restores/${encodeURIComponent(id)}`;

/**
 * Upload a backup file to be checked and staged, with progress (see uploadFile). `done` resolves
 * to the staged restore: its manifest, counts, the settings that differ, and nothing applied yet.
 * @param {File} file
 * @param {(sent: number, total: number) => void} onProgress
 */
export function stageRestore(file, onProgress) {
  const { done, abort } = uploadFile("/v1/restores", file, onProgress);
  return { done: done.then(({ payload }) => payload), abort };
}
/** Replace chats, memory and knowledge with a staged backup's; mode "overwrite" or "preserve_settings" says what becomes of the settings. */
export const applyRestore = (id, mode) => request("POST", `${restorePath(id)}/apply`, { mode });
/** Throw a staged restore away; nothing was applied. */
export const discardRestore = (id) => request("DELETE", restorePath(id));

/** POST one file as multipart field `file`, with progress (see send). */
function uploadFile(path, file, onProgress) {
  const form = new FormData();
  form.append("file", file, file.name);
  return send("POST", path, form, onProgress);
}

/**
 * Send a multipart form. XMLHttpRequest rather than fetch, for its upload progress events.
 * Returns {done, abort}: `done` resolves to {status, payload} or rejects with an ApiError (code
 * "upload_cancelled" after abort()).
 */
function send(method, path, form, onProgress) {
  if (lockdown.isActive()) return { done: Promise.reject(lockedError()), abort: () => {} };
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      let payload = null;
      try {
        payload = JSON.parse(xhr.responseText);
      } catch {
        payload = null;
      }
      if (xhr.status === 401) toLogin();
      if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status, payload });
      else reject(apiError(xhr.status, xhr.statusText, payload));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", NETWORK_ERROR)));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "upload_cancelled", "The upload was cancelled.")));
  });
  xhr.open(method, path);
  xhr.setRequestHeader("Accept", "application/json");
  for (const [name, value] of Object.entries(authHeaders(method))) xhr.setRequestHeader(name, value);
  xhr.send(form);
  return { done, abort: () => xhr.abort() };
}

// ---- the account ----

/** End this login session; the caller then goes to the login page. */
export const logout = () => request("POST", "/v1/auth/logout");
/** Change your own password; every session of yours ends, so log in again afterwards. A wrong current password is a 403 shown on the form. */
export const changePassword = (currentPassword, newPassword) =>
  request("POST", "/v1/auth/password", { current_password: currentPassword, new_password: newPassword });

// ---- admin: users, API keys, the audit log ----

const userPath = (id) => `/v1/users/${encodeURIComponent(id)}`;
const keyPath = (id) => `/v1/keys/${encodeURIComponent(id)}`;

export const listUsers = async () => (await request("GET", "/v1/users")).users;
/** @param {{username: string, password: string, role: "admin"|"member"}} user */
export const createUser = (user) => request("POST", "/v1/users", user);
/** Change a user: {disabled?, role?, password?}; answers the user. Disabling or a new password ends their sessions. */
export const updateUser = (id, changes) => request("PATCH", userPath(id), changes);

export const listKeys = async () => (await request("GET", "/v1/keys")).keys;
/** A new key: the row plus `key`, which only this answer holds. */
export const createKey = ({ name, scopes, expiresDays = null }) =>
  request("POST", "/v1/keys", expiresDays === null ? { name, scopes } : { name, scopes, expires_days: expiresDays });
export const revokeKey = (id) => request("DELETE", keyPath(id));
/** Revoke every API key at once; answers {revoked: count}. Login sessions go on. */
export const revokeAllKeys = () => request("POST", "/v1/keys/revoke-all");

/** A page of audit entries, newest first, only `action`'s when given: {entries, next}; `next` is the `before` of the following page. */
export function listAudit({ action = "", limit = 100, before = null } = {}) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (action) params.set("action", action);
  if (before !== null) params.set("before", before);
  return request("GET", `/v1/audit?${params}`);
}

/** Runbook 5: revoke every key and login, lock Soma down; `confirm` is what the admin typed (the server wants "STOP"). */
export const getTunnel = () => request("GET", "/v1/tunnel");
/** {enabled, mode?}: the server refuses (409 tunnel_refused) while Soma would be exposed unprotected. */
export const setTunnel = (change) => request("PUT", "/v1/tunnel", change);

export const emergencyStop = (reason, confirm) => request("POST", "/v1/emergency-stop", { reason, confirm });

// The gateway's HTTP API. Every failure becomes an ApiError carrying the server's
// {"error": {"code", "message"}} so the page can show the server's own words.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
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
  if (!response.ok) throw apiError(response.status, response.statusText, payload);
  return payload;
}

const NETWORK_ERROR = "The Soma gateway could not be reached. Check that it is running, then try again.";

/** The ApiError for a failed response, in the server's words when it sent {"error": …}. */
function apiError(status, statusText, payload) {
  const error = payload && payload.error;
  return new ApiError(
    status,
    (error && error.code) || "http_error",
    (error && error.message) || `The gateway answered ${status} ${statusText}.`,
  );
}

const sessionPath = (id) => `/v1/sessions/${encodeURIComponent(id)}`;

export const listSessions = async () => (await request("GET", "/v1/sessions")).sessions;
export const createSession = (title) => request("POST", "/v1/sessions", title ? { title } : {});
export const getSession = (id) => request("GET", sessionPath(id));
export const listMessages = async (id) => (await request("GET", `${sessionPath(id)}/messages`)).messages;
export const postMessage = (id, content) => request("POST", `${sessionPath(id)}/messages`, { content });

/** The SSE URL of a session's event log, starting after event `after`. */
export const eventsUrl = (id, after) => `${sessionPath(id)}/events?after=${after}`;

// ---- settings ----

export const getSettings = () => request("GET", "/v1/settings");
/** Change some settings (only the keys given); answers the whole settings document. */
export const updateSettings = (changes) => request("PUT", "/v1/settings", changes);

// ---- memories ----

const memoryPath = (id) => `/v1/memories/${encodeURIComponent(id)}`;

/** A page of memories, newest first ({memories, next}); with `query`, the closest matches instead. */
export function listMemories({ limit, before = null, query = null }) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (before !== null) params.set("before", before);
  if (query) params.set("query", query);
  return request("GET", `/v1/memories?${params}`);
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
 * Upload one file as multipart field `file`. XMLHttpRequest rather than fetch, for its upload
 * progress events. Returns {done, abort}: `done` resolves to {document, created} (created is false
 * when the same content was already stored: that document is returned) or rejects with an
 * ApiError (code "upload_cancelled" after abort()).
 * @param {File} file
 * @param {(sent: number, total: number) => void} onProgress
 */
export function uploadDocument(file, onProgress) {
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
      if (xhr.status >= 200 && xhr.status < 300) resolve({ document: payload, created: xhr.status === 202 });
      else reject(apiError(xhr.status, xhr.statusText, payload));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", NETWORK_ERROR)));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "upload_cancelled", "The upload was cancelled.")));
  });
  const form = new FormData();
  form.append("file", file, file.name);
  xhr.open("POST", "/v1/knowledge");
  xhr.setRequestHeader("Accept", "application/json");
  xhr.send(form);
  return { done, abort: () => xhr.abort() };
}

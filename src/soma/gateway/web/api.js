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
    throw new ApiError(0, "network_error", "The Soma gateway could not be reached. Check that it is running, then try again.");
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = payload && payload.error;
    throw new ApiError(
      response.status,
      (error && error.code) || "http_error",
      (error && error.message) || `The gateway answered ${response.status} ${response.statusText}.`,
    );
  }
  return payload;
}

const sessionPath = (id) => `/v1/sessions/${encodeURIComponent(id)}`;

export const listSessions = async () => (await request("GET", "/v1/sessions")).sessions;
export const createSession = (title) => request("POST", "/v1/sessions", title ? { title } : {});
export const getSession = (id) => request("GET", sessionPath(id));
export const listMessages = async (id) => (await request("GET", `${sessionPath(id)}/messages`)).messages;
export const postMessage = (id, content) => request("POST", `${sessionPath(id)}/messages`, { content });

/** The SSE URL of a session's event log, starting after event `after`. */
export const eventsUrl = (id, after) => `${sessionPath(id)}/events?after=${after}`;

// The workspace's link to the platform: REST calls (session cookie + CSRF) and the /ws/agent/ socket.

/** An API failure in words: `message` comes from the error envelope, never a stack trace. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

function describe(status) {
  if (status === 0) return "The server cannot be reached. Check your connection; the workspace retries by itself.";
  if (status === 401 || status === 403) return "You are not allowed to do that, or your session ended.";
  if (status >= 500) return "The server had a problem. Please try again.";
  return `The request failed (HTTP ${status}).`;
}

/** Call the agent API; resolves to the JSON body (or null), rejects with an ApiError. */
export async function api(method, url, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!["GET", "HEAD"].includes(method)) headers["X-CSRFToken"] = cookie("csrftoken");
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network_error", describe(0));
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error;
    if (error && error.message) throw new ApiError(response.status, error.code, error.message, error.details);
    throw new ApiError(response.status, "http_" + response.status, describe(response.status));
  }
  return data;
}

/**
 * The agent's websocket with reconnection (exponential backoff with jitter, capped) and a heartbeat.
 * Callbacks: onEvent(frame), onOpen() after each (re)connect, onState({state, retryIn}), onSessionEnded().
 */
export class AgentSocket {
  constructor({ url, onEvent, onOpen, onState, onSessionEnded, sessionAlive }) {
    this.sessionAlive = sessionAlive;
    this.url = url;
    this.onEvent = onEvent;
    this.onOpen = onOpen;
    this.onState = onState;
    this.onSessionEnded = onSessionEnded;
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.timer = null;
    this.heartbeat = null;
    this.lastFrameAt = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    if (this.ws) this.ws.close(1000);
  }

  connect() {
    clearTimeout(this.timer);
    this.onState({ state: "connecting" });
    const ws = new WebSocket(this.url);
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      this.attempt = 0;
      this.lastFrameAt = Date.now();
      clearInterval(this.heartbeat);
      // A half-open connection (laptop sleep, dropped NAT) shows up as silence: ping, and reconnect
      // when nothing came back for a while.
      this.heartbeat = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (Date.now() - this.lastFrameAt > 60000) {
          ws.close(4000, "heartbeat timeout");
          return;
        }
        ws.send(JSON.stringify({ type: "ping" }));
      }, 20000);
    });
    ws.addEventListener("message", (message) => {
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "pong") return;
      if (frame.type === "hello") {
        this.onState({ state: "connected" });
        this.onOpen(frame);
        return;
      }
      this.onEvent(frame);
    });
    ws.addEventListener("close", async (event) => {
      clearInterval(this.heartbeat);
      if (this.ws !== ws) return;
      this.ws = null;
      // 4401 is the server's "no session"; a refused handshake only shows as 1006, so when the socket
      // never opened, ask the API whether the session is still there before retrying.
      if (event.code === 4401 || (!opened && this.sessionAlive && !(await this.sessionAlive()))) {
        this.stopped = true;
        this.onState({ state: "ended" });
        this.onSessionEnded();
        return;
      }
      if (this.stopped) return;
      const base = Math.min(30000, 1000 * 2 ** this.attempt);
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      this.attempt += 1;
      this.onState({ state: "reconnecting", retryIn: delay });
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }
}

export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

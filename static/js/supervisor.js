// The supervisor page. Queues and agents are live: a snapshot over the websocket /ws/supervisor/ at
// connect and whenever routing or presence changes (the server coalesces changes, at most one push a
// second). The A/B block and recent routing decisions, which are history, refresh every 15 s and after
// a live change.
import { safeText } from "./text.js";
import { socketUrl } from "./api.js";
import { fmtWait, liveView, pct } from "./supervisor/format.js";
import { renderTiles } from "./supervisor/tiles.js";

const root = document.getElementById("supervisor");
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "—");
const HISTORY_EVERY_MS = 15000;
const HISTORY_AFTER_CHANGE_MS = 3000;
let lastHistory = 0;

function fill(tableId, rows) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const cell of cells) {
        const td = document.createElement("td");
        td.textContent = safeText(cell);
        tr.appendChild(td);
      }
      return tr;
    }),
  );
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = document.querySelectorAll(`#${tableId} th`).length;
    td.textContent = "Nothing here.";
    td.className = "muted";
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

function showLive(snapshot) {
  const view = liveView(snapshot, fmtTime);
  renderTiles(document.getElementById("live-tiles"), view.tiles);
  fill("queues", view.queues);
  fill("agents", view.agents);
  document.getElementById("updated").textContent = `Updated ${fmtTime(snapshot.generated_at)} (live)`;
}

let attempt = 0;
function connect() {
  const ws = new WebSocket(socketUrl("/ws/supervisor/"));
  let heartbeat = null;
  ws.addEventListener("open", () => {
    attempt = 0;
    heartbeat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('{"type":"ping"}'), 20000);
  });
  ws.addEventListener("message", (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "sla.alert") {
      // an SLA warning or breach: the live conversations list (supervision.js) shows it at once
      document.dispatchEvent(new CustomEvent("ccp:sla-alert", { detail: frame.data }));
      return;
    }
    if (frame.type !== "realtime.snapshot") return;
    showLive(frame.data);
    // routing changed: the decisions log has news too (at most every few seconds)
    if (Date.now() - lastHistory > HISTORY_AFTER_CHANGE_MS) refreshHistory();
  });
  ws.addEventListener("close", (event) => {
    clearInterval(heartbeat);
    if (event.code === 4401 || event.code === 4403) {
      document.getElementById("updated").textContent = "Your session ended: log in again.";
      return;
    }
    const base = Math.min(30000, 1000 * 2 ** attempt);
    attempt += 1;
    document.getElementById("updated").textContent = "Live updates interrupted. Reconnecting…";
    setTimeout(connect, Math.round(base / 2 + Math.random() * (base / 2)));
  });
}

async function refreshHistory() {
  lastHistory = Date.now();
  try {
    const response = await fetch(root.dataset.url, { credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    const ab = body.ab;
    document.getElementById("ab-status").textContent = ab.enabled
      ? `AI routing on for ${ab.share} % of new conversations; last ${ab.window_hours} h.`
      : `AI routing is off (enable it in the admin: AI routing configuration); last ${ab.window_hours} h.`;
    const ci = (value, range, show) => (value === null ? "—" : range ? `${show(value)} (${show(range[0])}–${show(range[1])})` : show(value));
    const secs = (x) => fmtWait(Math.max(0, x));
    const score = (x) => x.toFixed(2);
    fill("ab", ab.arms.map((r) => [r.arm, r.routed, r.placed_by_ai, ci(r.resolution_rate, r.resolution_ci, pct), r.feedback,
      ci(r.transfer_rate, r.transfer_ci, pct), ci(r.abandonment_rate, r.abandonment_ci, pct),
      ci(r.mean_handle_seconds, r.handle_ci, secs), ci(r.mean_outcome_score, r.outcome_score_ci, score)]));
    const verdict = document.getElementById("ab-verdict");
    verdict.textContent = ab.verdict;
    verdict.className = ab.significant ? "" : "muted";
    fill("decisions", body.decisions.map((d) => [fmtTime(d.created_at), d.engine, d.arm || "—", d.strategy, d.outcome, d.agent || "—",
      d.queue || "—", d.latency_ms, d.reason]));
  } catch (err) {
    document.getElementById("ab-status").textContent = `Could not refresh: ${err.message}. Retrying…`;
  }
}

connect();
refreshHistory();
setInterval(refreshHistory, HISTORY_EVERY_MS);

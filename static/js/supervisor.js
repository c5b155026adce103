// The supervisor page: polls the overview API every 2 s and renders its tables (queues, agents, A/B, decisions).
import { safeText } from "./text.js";

const root = document.getElementById("supervisor");
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "—");
const fmtWait = (s) => (s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);
const load = (cap) => (cap ? `${cap.used} / ${cap.max}` : "—");

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

async function refresh() {
  try {
    const response = await fetch(root.dataset.url, { credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    fill("queues", body.queues.map((q) => [q.name, q.waiting, q.offered, fmtWait(q.longest_wait_seconds)]));
    fill("agents", body.agents.map((a) => [a.name, a.status, fmtTime(a.status_since), load(a.capacity.messaging),
      load(a.capacity.voice), Object.entries(a.skills).map(([k, v]) => `${k} ${v}`).join(", ")]));
    const ab = body.ab;
    document.getElementById("ab-status").textContent = ab.enabled
      ? `AI routing on for ${ab.share} % of new conversations; last ${ab.window_hours} h.`
      : `AI routing is off (enable it in the admin: AI routing configuration); last ${ab.window_hours} h.`;
    const pct = (x) => (x === null ? "—" : `${Math.round(x * 1000) / 10} %`);
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
    document.getElementById("updated").textContent = `Updated ${fmtTime(body.generated_at)}`;
  } catch (err) {
    document.getElementById("updated").textContent = `Could not refresh: ${err.message}. Retrying…`;
  }
}

refresh();
setInterval(refresh, 2000);

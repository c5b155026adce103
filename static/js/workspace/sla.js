// A conversation's SLA countdown (docs/reports.md, "SLA"). The state carries each conversation's
// most urgent running clock as `sla: { target, due_at, warn_at, state }` (GET /agent/state/); the
// bus's sla.warning / sla.breached events update it (`slaFromEvent`, used by the pure reducer), an
// agent's reply drops a response clock it stopped (`slaAfterMessage`), and the list shows the time
// left, re-computed every second (`slaCountdown`, `tickSla`). Everything but `tickSla` is pure.
import { h } from "../text.js";

export const SLA_TARGETS = {
  first_response: "First response",
  next_response: "Next response",
  resolution: "Resolution",
};

/** Seconds as "45s", "4:05", "1:02:03" or "2d 3h" (whole seconds, never negative). */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const days = Math.floor(s / 86400);
  if (days >= 1) return `${days}d ${Math.floor((s % 86400) / 3600)}h`;
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const secs = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
}

/** What the countdown shows at `nowMs`: `{ text, state, label }`, or null without a running clock.
 * The state is the server's, or later in time: warning from warn_at, breached from due_at. */
export function slaCountdown(sla, nowMs) {
  if (!sla || !sla.target) return null;
  const label = SLA_TARGETS[sla.target] || sla.target;
  if (!sla.due_at) return { text: `${label}: no due time`, state: sla.state || "ok", label };
  const left = (Date.parse(sla.due_at) - nowMs) / 1000;
  let state = sla.state || "ok";
  if (left <= 0) state = "breached";
  else if (state === "ok" && sla.warn_at && Date.parse(sla.warn_at) <= nowMs) state = "warning";
  const text = left <= 0 ? `${label} overdue ${formatDuration(-left)}` : `${label} ${formatDuration(left)}`;
  return { text, state, label };
}

/** The conversation's `sla` after an sla.warning or sla.breached event for it. */
export function slaFromEvent(current, type, data) {
  const state = type === "sla.breached" ? "breached" : "warning";
  const other = current && current.target && current.target !== data.target;
  if (other && current.due_at && data.due_at && Date.parse(current.due_at) < Date.parse(data.due_at)) {
    return current; // another clock, due sooner, stays shown
  }
  const keep = current && current.target === data.target ? current : {};
  if (keep.state === "breached") return current; // a late warning never un-breaches
  return { ...keep, target: data.target, due_at: data.due_at, state };
}

/** The conversation's `sla` after a message: an agent's reply stops the response clock shown. */
export function slaAfterMessage(current, message) {
  if (!current || message.direction !== "outbound" || message.sender_type !== "agent") return current;
  return current.target === "first_response" || current.target === "next_response" ? null : current;
}

/** The list's countdown element of a conversation (null without a clock). */
export function slaBadge(sla, nowMs = Date.now()) {
  const shown = slaCountdown(sla, nowMs);
  if (!shown) return null;
  return h(
    "span",
    {
      class: `conv-sla sla-${shown.state}`,
      dataset: { slaTarget: sla.target, slaDue: sla.due_at || "", slaWarn: sla.warn_at || "", slaState: sla.state || "ok" },
      title: `${shown.label} target (business time)`,
    },
    shown.text,
  );
}

/** Re-compute every countdown shown under `root` (the page calls this every second). */
export function tickSla(root, nowMs = Date.now()) {
  for (const el of root.querySelectorAll(".conv-sla")) {
    const d = el.dataset;
    const shown = slaCountdown({ target: d.slaTarget, due_at: d.slaDue || null, warn_at: d.slaWarn || null, state: d.slaState }, nowMs);
    if (!shown) continue;
    if (el.textContent !== shown.text) el.textContent = shown.text;
    el.className = `conv-sla sla-${shown.state}`;
  }
}

// Pure formatting of the supervisors' live snapshot and reports (unit-tested with node --test).

export const fmtWait = (s) => {
  if (s === null || s === undefined) return "—";
  return s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
};
export const pct = (x) => (x === null || x === undefined ? "—" : `${Math.round(x * 1000) / 10} %`);
export const load = (cap) => (cap ? `${cap.used} / ${cap.max}` : "—");

// The live snapshot (GET /api/v1/agent/reports/realtime/, or a websocket frame) → table rows and tiles.
export function liveView(snapshot, fmtTime = (iso) => iso || "—") {
  const totals = snapshot.totals;
  return {
    tiles: [
      ["Waiting", String(totals.waiting)],
      ["Agents online", String(totals.agents_online)],
      ["Available", String(totals.agents_available)],
      ["Busy", String(totals.agents_busy)],
      ["Away", String(totals.agents_away)],
      ["Service level today", pct(totals.service_level_today)],
    ],
    queues: snapshot.queues.map((q) => [
      q.queue === null ? "(no queue)" : q.queue,
      String(q.waiting),
      q.waiting ? fmtWait(q.oldest_wait_seconds) : "—",
      String(q.agents_online),
      String(q.agents_available),
      String(q.agents_busy),
      String(q.agents_away),
      pct(q.service_level_today),
    ]),
    agents: snapshot.agents.map((a) => [
      a.name,
      a.status,
      fmtTime(a.status_since),
      a.available ? "yes" : "no",
      load(a.load.messaging),
      load(a.load.voice),
    ]),
  };
}

// Reports: the query of the filters (empty values left out) and the URLs of the JSON and CSV.
export function reportQuery(values, extra = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...values, ...extra })) {
    if (value !== "" && value !== null && value !== undefined) params.set(key, value);
  }
  return params.toString();
}

// The summary's total → KPI tiles.
export function kpis(total) {
  const secs = (s) => (s === null || s === undefined ? "—" : fmtWait(s));
  return [
    ["Offered", String(total.offered)],
    ["Answered", String(total.answered)],
    ["Abandoned", `${total.abandoned} (${total.short_abandoned} short)`],
    ["Service level", pct(total.service_level)],
    ["ASA", secs(total.asa_seconds)],
    ["AHT", secs(total.aht_seconds)],
    ["First response", secs(total.first_response_seconds)],
    ["Occupancy", pct(total.occupancy)],
    ["FCR", pct(total.fcr)],
    ["Transfers", String(total.transfers)],
  ];
}

// The summary's rows → uPlot's column data: x in unix seconds, one array per series (null = no value).
export function chartData(summary) {
  const x = summary.rows.map((r) => Date.parse(r.start) / 1000);
  const col = (name, scale = 1) => summary.rows.map((r) => (r[name] === null ? null : r[name] * scale));
  return {
    volume: [x, col("offered"), col("answered"), col("abandoned")],
    serviceLevel: [x, col("service_level", 100)],
    asa: [x, col("asa_seconds")],
  };
}

// The agents report → table rows.
export function agentRows(report) {
  const secs = (s) => (s === null ? "—" : fmtWait(s));
  const hours = (s) => `${Math.round((s / 3600) * 10) / 10} h`;
  return report.agents.map((a) => [a.name, String(a.handled), secs(a.aht_seconds), secs(a.acw_seconds),
    pct(a.occupancy), hours(a.online_seconds), hours(a.busy_seconds), hours(a.away_seconds)]);
}

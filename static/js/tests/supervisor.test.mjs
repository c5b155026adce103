import assert from "node:assert/strict";
import { test } from "node:test";

import { agentRows, chartData, fmtWait, kpis, liveView, pct, reportQuery } from "../supervisor/format.js";

test("formats waits and ratios, empty as a dash", () => {
  assert.equal(fmtWait(75), "1 min 15 s");
  assert.equal(fmtWait(null), "—");
  assert.equal(pct(0.5), "50 %");
  assert.equal(pct(null), "—");
});

test("the live snapshot becomes tiles and rows, the queue-less row named", () => {
  const view = liveView({
    totals: { waiting: 2, agents_online: 1, agents_available: 1, agents_busy: 0, agents_away: 1, service_level_today: null },
    queues: [{ queue: null, waiting: 2, oldest_wait_seconds: 90, agents_online: 1, agents_available: 1, agents_busy: 0,
      agents_away: 1, service_level_today: 0.25 }],
    agents: [{ name: "Alice", status: "online", status_since: null, available: true, load: { messaging: { max: 4, used: 1 } } }],
  });
  assert.deepEqual(view.queues[0], ["(no queue)", "2", "1 min 30 s", "1", "1", "0", "1", "25 %"]);
  assert.deepEqual(view.agents[0], ["Alice", "online", "—", "yes", "1 / 4", "—"]);
  assert.deepEqual(view.tiles.at(-1), ["Service level today", "—"]);
});

test("report query leaves empty filters out", () => {
  assert.equal(reportQuery({ from: "2026-11-01", queue: "" }, { format: "csv" }), "from=2026-11-01&format=csv");
});

test("chart data and tiles from a summary", () => {
  const summary = {
    rows: [
      { start: "2026-11-02T00:00:00Z", offered: 3, answered: 2, abandoned: 1, service_level: 0.5, asa_seconds: 12 },
      { start: "2026-11-03T00:00:00Z", offered: 0, answered: 0, abandoned: 0, service_level: null, asa_seconds: null },
    ],
  };
  const data = chartData(summary);
  assert.deepEqual(data.volume[0], [1793577600, 1793664000]);
  assert.deepEqual(data.serviceLevel[1], [50, null]);
  assert.deepEqual(data.asa[1], [12, null]);
  const total = { offered: 3, answered: 2, abandoned: 1, short_abandoned: 0, service_level: 0.5, asa_seconds: 12,
    aht_seconds: null, first_response_seconds: null, occupancy: null, fcr: 1, transfers: 0 };
  assert.deepEqual(kpis(total)[2], ["Abandoned", "1 (0 short)"]);
  assert.deepEqual(agentRows({ agents: [{ name: "A", handled: 1, aht_seconds: 30, acw_seconds: null, occupancy: 0.5,
    online_seconds: 3600, busy_seconds: 0, away_seconds: 1800 }] })[0], ["A", "1", "30 s", "—", "50 %", "1 h", "0 h", "0.5 h"]);
});

// The reports page: filters → the summary and agents reports (JSON) → KPI tiles, three uPlot charts
// (volume, service level, ASA over time), the agent table, and CSV links for the same filters.
import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { safeText } from "../text.js";
import { agentRows, chartData, kpis, reportQuery } from "./format.js";
import { renderTiles } from "./tiles.js";

const root = document.getElementById("reports");
const form = document.getElementById("filters");
const status = document.getElementById("status");
const charts = {};

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function values() {
  return Object.fromEntries(new FormData(form).entries());
}

function table(rows) {
  const body = document.querySelector("#agents-table tbody");
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
}

function chart(id, data, series, yLabel) {
  const el = document.getElementById(id);
  if (charts[id]) charts[id].destroy();
  const width = Math.max(280, el.clientWidth || 360);
  charts[id] = new uPlot(
    {
      width,
      height: 220,
      series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2, spanGaps: false }))],
      axes: [{}, { label: yLabel, size: 50 }],
      scales: { x: { time: true } },
    },
    data,
    el,
  );
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

async function show() {
  const filters = values();
  const agentFilters = { from: filters.from, to: filters.to };
  document.getElementById("csv-summary").href = `${root.dataset.summary}?${reportQuery(filters, { format: "csv" })}`;
  document.getElementById("csv-agents").href = `${root.dataset.agents}?${reportQuery(agentFilters, { format: "csv" })}`;
  status.textContent = "Loading…";
  try {
    const [summary, agents] = await Promise.all([
      getJson(`${root.dataset.summary}?${reportQuery(filters)}`),
      getJson(`${root.dataset.agents}?${reportQuery(agentFilters)}`),
    ]);
    renderTiles(document.getElementById("kpis"), kpis(summary.total));
    const data = chartData(summary);
    chart("chart-volume", data.volume, [["Offered", "#3563e9"], ["Answered", "#2e9d5b"], ["Abandoned", "#d9534f"]], "work items");
    chart("chart-sl", data.serviceLevel, [["Service level %", "#8a4fd3"]], "%");
    chart("chart-asa", data.asa, [["ASA (s)", "#e08a1e"]], "seconds");
    table(agentRows(agents));
    status.textContent = `${summary.rows.length} ${summary.interval === "hour" ? "hours" : "days"} in ${summary.time_zone}.`;
  } catch (err) {
    status.textContent = `Could not load the report: ${err.message}`;
  }
}

const today = new Date();
form.elements.to.value = isoDay(today);
form.elements.from.value = isoDay(new Date(today.getTime() - 6 * 86400000));
form.addEventListener("submit", (event) => {
  event.preventDefault();
  show();
});
show();

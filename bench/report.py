"""Percentiles, the printed table, targets met / not met, results.json and results.png."""

from __future__ import annotations

import json
from pathlib import Path

TARGETS = {
    # issue 21's targets (the previous round's, stricter on a 2-core box, are in docs/performance.md)
    "ingest_vs_bare_drf": ">= 50% of the bare DRF-insert endpoint's closed-loop throughput (same run, same server)",
    "ingest_p99_at_50": "p99 partner POST -> agent websocket <= 50 ms at 50 msg/s",
    "reply_p99_at_25": "p99 agent reply -> partner webhook <= 100 ms at 25 msg/s",
    "routing_rate": ">= 200 routing decisions/s end to end (1,000 queued, 100 agents coming online)",
    "routing_capacity": "zero agents over capacity",
    "idle_memory": "1,000 idle websockets <= 300 MB across the server processes (PSS total; RSS beside)",
    "no_loss": "zero lost and zero duplicated items in every scenario",
}


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))], 1)

    return {"n": len(ordered), "p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": round(ordered[-1], 1)}


def _ratio(a, b) -> str:
    return f"{a / b:.0%}" if a is not None and b else "n/a"


def _cpu(processes: dict) -> str:
    """cpu% of one core (and peak RSS) per process tree; `machine` is all cores together (max 200% here)."""
    parts = []
    for name, m in processes.items():
        if "peak_rss_mb" in m:
            parts.append(f"{name} {m['cpu_pct']:.0f}%/{m['peak_rss_mb']:.0f}MB")
        elif "cpu_pct" in m:
            parts.append(f"{name} {m['cpu_pct']:.0f}%")
        else:
            parts.append(f"{name} {m['cpu_s']:.1f}s")
    return " ".join(parts)


def _lat(p: dict) -> str:
    if not p or p.get("p50") is None:
        return "-"
    return f"{p['p50']:.0f}/{p['p95']:.0f}/{p['p99']:.0f}"


def _get(entry: dict, key: str):
    """A scenario's result, or None when it did not run or failed."""
    value = entry.get(key)
    return None if not value or "error" in value else value


def targets(results: dict) -> dict:
    """Each target: {"target", "value", "met"} (None when the scenario did not run at that size)."""
    out = {}
    topologies = results.get("topologies", {})
    primary = next(iter(topologies.values()), {})
    ingest = _get(primary, "ingest")
    base = _get(primary, "baseline")
    if ingest and base:
        ratio = ingest["saturation"]["throughput_rps"] / base["throughput_rps"] if base["throughput_rps"] else 0
        out["ingest_vs_bare_drf"] = {"value": f"{ratio:.0%}", "met": ratio >= 0.5}
    if ingest:
        at50 = [s for s in ingest["steps"] if s["rate"] == 50]
        if at50:
            p99 = at50[0]["latency_ms"]["p99"]
            out["ingest_p99_at_50"] = {"value": f"{p99} ms", "met": p99 is not None and p99 <= 50}
    reply = _get(primary, "reply")
    if reply:
        at25 = [s for s in reply["steps"] if s["rate"] == 25]
        if at25:
            p99 = at25[0]["latency_ms"]["p99"]
            out["reply_p99_at_25"] = {"value": f"{p99} ms", "met": p99 is not None and p99 <= 100}
    routing = _get(primary, "routing")
    if routing:
        rate = routing["backlog"]["decisions_per_second"] or 0
        out["routing_rate"] = {"value": f"{rate}/s", "met": rate >= 200}
        out["routing_capacity"] = {
            "value": f"{routing['over_capacity_agents']} over",
            "met": routing["over_capacity_agents"] == 0,
        }
    conn = _get(primary, "connections")
    if conn and conn["idle_sockets"] >= 1000:
        # PSS: RSS counts the pages gunicorn's preloaded workers share with their master once per process
        rss, pss = conn["total_rss_mb_idle"], conn.get("total_pss_mb_idle")
        if pss is None:  # results written before PSS was measured
            out["idle_memory"] = {"value": f"RSS {rss} MB (no PSS measured)", "met": rss <= 300}
        else:
            out["idle_memory"] = {"value": f"PSS {pss} MB (RSS {rss} MB)", "met": pss <= 300}
    lost = dup = 0
    for entry in topologies.values():
        ingest = _get(entry, "ingest") or {}
        for step in [*ingest.get("steps", []), ingest.get("saturation") or {}]:
            lost += step.get("lost", 0)
            dup += step.get("duplicated", 0)
        for step in (_get(entry, "reply") or {}).get("steps", []):
            lost += step.get("lost", 0)
            dup += step.get("duplicated", 0)
        for part in ("live",):
            r = (_get(entry, "routing") or {}).get(part) or {}
            lost += r.get("lost", 0)
            dup += r.get("duplicated", 0)
        a = (_get(entry, "connections") or {}).get("active") or {}
        lost += a.get("lost", 0)
        dup += a.get("duplicated", 0)
    out["no_loss"] = {"value": f"{lost} lost, {dup} duplicated", "met": lost == 0 and dup == 0}
    for key, value in out.items():
        value["target"] = TARGETS[key]
    return out


def table(results: dict) -> str:
    lines = []
    m = results["machine"]
    lines.append(
        f"ccp bench {results['started_at']}  cpus={m['cpus']}  loadavg start={m['loadavg_start']} "
        f"end={m.get('loadavg_end')}  ({results.get('seconds', '?')} s)"
    )
    pg = results["baseline"].get("pgbench_message_outbox")
    if pg:
        lines.append(f"pgbench message+outbox txn: {pg['c1']['tps']} tps at 1 client, {pg['c8']['tps']} at 8")
    pg1 = pg["c1"]["tps"] if pg else None
    for name, entry in results["topologies"].items():
        label = {
            "node": "gunicorn (REST) + daphne (ws) + Celery, forked from one loaded process (ccp_serve)",
            "split": "gunicorn (REST) + daphne (ws) + Celery as separate programs (ccp_serve --no-fork)",
        }.get(name, "daphne alone")
        lines.append("")
        lines.append(
            f"== topology {name}: {label}  (loadavg {entry.get('loadavg_start')} -> {entry.get('loadavg_end')})"
        )
        for key in ("baseline", "ingest", "reply", "routing", "connections"):
            if entry.get(key) and "error" in entry[key]:
                lines.append(f"  {key}: FAILED {entry[key]['error']}")
        base = _get(entry, "baseline")
        base_rps = base["throughput_rps"] if base else None
        if base:
            lines.append(
                f"  baseline bare DRF insert: {base_rps} req/s  http p50/p95/p99 {_lat(base['http_ms'])} ms  "
                f"{_cpu(base['processes'])}  errors {base['errors']}"
            )
        ingest = _get(entry, "ingest")
        if ingest:
            lines.append("  ingest: partner POST -> agent websocket")
            lines.append(
                "    rate   achieved  ws p50/p95/p99 ms  new-conv offer p50/p95/p99  http p50/p95/p99  lost dup err"
                " skip  server CPU ms/msg  cpu%/peak RSS"
            )
            for s in ingest["steps"]:
                lines.append(
                    f"    {s['rate']:>5g}  {s['achieved_rps']:>8}  {_lat(s['latency_ms']):>17}  "
                    f"{_lat(s['new_conversation_offer_ms']):>27}  {_lat(s['http_ms']):>16}  {s['lost']:>4} "
                    f"{s['duplicated']:>3} {s['errors']:>3} {s.get('skipped', 0):>4}  "
                    f"{s['server_cpu_ms_per_msg']:>17}  "
                    f"{_cpu(s['processes'])}"
                )
            sat = ingest["saturation"]
            lines.append(
                f"    max throughput (closed loop, 8 clients): {sat['throughput_rps']} msg/s = "
                f"{_ratio(sat['throughput_rps'], base_rps)} of bare DRF insert, "
                f"{_ratio(sat['throughput_rps'], pg1)} of "
                f"pgbench c1; ws p50/p95/p99 {_lat(sat['latency_ms'])} ms; lost {sat['lost']} dup {sat['duplicated']} "
                f"err {sat['errors']}; server CPU {sat['server_cpu_ms_per_msg']} ms/msg; {_cpu(sat['processes'])}"
            )
            lines.append(
                f"    max sustained rate with p99 <= 100 ms: {ingest['max_sustained_rate_p99_under_100ms']:g} msg/s"
            )
        reply = _get(entry, "reply")
        if reply:
            lines.append(
                "  reply: agent API POST -> partner webhook "
                f"(signature verified; bad {reply['receiver']['bad_signature']})"
            )
            for s in reply["steps"]:
                lines.append(
                    f"    {s['rate']:>5g} msg/s  webhook p50/p95/p99 {_lat(s['latency_ms'])} ms  "
                    f"http {_lat(s['http_ms'])}"
                    f"  lost {s['lost']} dup {s['duplicated']} err {s['errors']}  "
                    f"server CPU {s['server_cpu_ms_per_msg']} ms/msg  {_cpu(s['processes'])}"
                )
        routing = _get(entry, "routing")
        if routing:
            b, live = routing["backlog"], routing["live"]
            lines.append(f"  routing: {routing['agents']} agents x capacity {routing['capacity_each']}")
            lines.append(
                f"    live {live['rate']:g}/s x {live['conversations']}: enqueue->offer p50/p95/p99 "
                f"{_lat(live['enqueue_to_offer_ms'])} ms, POST->ws offer {_lat(live['post_to_ws_offer_ms'])} ms, "
                f"lost {live['lost']} dup {live['duplicated']}"
            )
            lines.append(
                f"    backlog {b['queued']} queued: {b['offers']} offers in {b['drain_seconds']} s = "
                f"{b['decisions_per_second']} decisions/s; decision p50/p95/p99 {_lat(b['decision_latency_ms'])} ms; "
                f"{_cpu(b['processes'])}"
            )
            lines.append(
                f"    accepted {routing['accepted']} (refused {routing['accept_refused']}), accept http "
                f"{_lat(routing['accept_http_ms'])} ms; over capacity {routing['over_capacity_agents']}; "
                f"items with 2 live offers {routing['work_items_with_two_live_offers']}"
            )
        conn = _get(entry, "connections")
        if conn:
            act = conn.get("active") or {}
            lines.append(
                f"  connections: {conn['idle_connected']}/{conn['idle_sockets']} idle (failed {conn['idle_failed']}, "
                f"dropped {conn['idle_dropped']}) + {conn['active_sockets']} active"
            )
            lines.append(
                f"    ws server {conn['ws_server_kb_per_connection']} KB/connection; "
                f"RSS before {conn['rss_mb_before']} "
                f"-> idle {conn['rss_mb_idle']} (total {conn['total_rss_mb_idle']} MB)"
            )
            idle = conn.get("memory_mb_idle")
            if idle:
                trees = "  ".join(f"{name} {m['rss']:.0f}/{m['pss']:.0f}/{m['uss']:.0f}" for name, m in idle.items())
                lines.append(
                    f"    idle memory MB rss/pss/uss: {trees}  total RSS {conn['total_rss_mb_idle']} "
                    f"PSS {conn['total_pss_mb_idle']} USS {conn['total_uss_mb_idle']}"
                )
            if act:
                lines.append(
                    f"    active {act['rate']:g} msg/s: ws p50/p95/p99 {_lat(act['latency_ms'])} ms, "
                    f"lost {act['lost']} "
                    f"dup {act['duplicated']} err {act['errors']}; {_cpu(act['processes'])}"
                )
    lines.append("")
    lines.append("targets (measured in this run; 2 shared cores, noisy — see docs/performance.md):")
    for _key, t in results.get("targets", {}).items():
        lines.append(f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['value']}")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, entry in results["topologies"].items():
        ingest = _get(entry, "ingest")
        if ingest:
            rates = [s["rate"] for s in ingest["steps"]]
            axes[0].plot(rates, [s["latency_ms"]["p99"] or 1 for s in ingest["steps"]], "o-", label=f"{name} p99")
            axes[0].plot(rates, [s["latency_ms"]["p50"] or 1 for s in ingest["steps"]], "x--", label=f"{name} p50")
        reply = _get(entry, "reply")
        if reply:
            rates = [s["rate"] for s in reply["steps"]]
            axes[1].plot(rates, [s["latency_ms"]["p99"] or 1 for s in reply["steps"]], "o-", label=f"{name} p99")
            axes[1].plot(rates, [s["latency_ms"]["p50"] or 1 for s in reply["steps"]], "x--", label=f"{name} p50")
    axes[0].axhline(50, color="grey", lw=0.8)
    axes[0].set(title="ingest: partner POST -> agent websocket", xlabel="msg/s", ylabel="ms")
    axes[1].axhline(100, color="grey", lw=0.8)
    axes[1].set(title="reply: agent API -> partner webhook", xlabel="msg/s", ylabel="ms")
    for ax in axes:
        ax.set_yscale("log")  # from tens of ms to seconds once the box saturates
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"ccp bench {results['started_at']} (2 cores, loadavg {results['machine']['loadavg_start']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def render(results: dict, out: Path) -> str:
    results["targets"] = targets(results)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    plotted = plot(results, out / "results.png")
    text = table(results)
    text += f"\n\nwrote {out / 'results.json'}" + (
        f" and {out / 'results.png'}" if plotted else " (no matplotlib: no plot)"
    )
    (out / "results.txt").write_text(text + "\n")
    return text

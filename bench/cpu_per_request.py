"""CPU and queries per request of the two hot paths, in one process: `python bench/cpu_per_request.py`.

Less sensitive to a busy machine than the load scenarios of bench/run.py (CPU time, not wall time,
is what it reports), so it is the figure to compare two checkouts by: run it in each, one after the
other (docs/performance.md does so for the commit before the hot-path work and for HEAD).

Recreates the database `ccp_bench_cpu` (migrate + ccp_demo; the suite's Redis db and prefixes, so do
not run it beside bench/run.py), then through Django's test client with the real middleware,
PostgreSQL, Redis (channel layer, cache, Celery broker; no worker runs and the queue is purged at
the end) and the on-commit fan-out:
- ingest: a partner POSTs a message into a conversation an agent holds (the common case);
- reply: that agent POSTs a message through the agent API (the outbound path, consent checked);
- new: a partner POSTs the first message of a new end user: contact, conversation and session are
  created and the conversation is routed in the request to an online agent (work.offered). Only the
  POST is measured; the conversation is then closed (not measured) so that capacity stays free.
- baseline: the bench's bare DRF endpoint (bench/baseline_app: validate a body, insert one row),
  served by the same process, URLconf, middleware and connection.
The three run interleaved (baseline, ingest, reply, baseline, …) so that a change in the machine's
speed during the run moves all three alike; the ratios to the baseline are the figures to compare.
Reports per request: process CPU ms (this process: server code, fan-out thread, test client),
wall ms, and database queries (the request's, then the fan-out's after commit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stack  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=300, help="requests per path (after 30 warm-up requests)")
    p.add_argument("--json", dest="json_out", help="also write the figures to this file")
    p.add_argument("--database", default="ccp_bench_cpu", help="recreated on every run (a ccp_bench* name)")
    p.add_argument(
        "--profile",
        choices=["baseline", "ingest", "reply", "new"],
        help="instead of timing, print a cProfile of -n requests of this path (own time and cumulative)",
    )
    p.add_argument("--show-queries", action="store_true", help="print the SQL of one request of each path, then stop")
    p.add_argument("--pgbouncer", action="store_true", help="connect through a PgBouncer (transaction pooling)")
    args = p.parse_args(argv)
    if args.pgbouncer:
        stack.start_pgbouncer(pool_size=5)
    try:
        return measure(args)
    finally:
        stack.stop_pgbouncer()


def pgbouncer_cpu_ms() -> float:
    if stack.PGBOUNCER is None:
        return 0.0
    return stack.Own("pgbouncer", stack.PGBOUNCER.process).cpu_seconds() * 1000


def measure(args) -> int:
    stack.recreate_database(args.database)
    stack.manage(args.database, "migrate", "--no-input", "-v", "0")
    demo = stack.setup_django(args.database, settings="bench.baseline_app.settings_combined")
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.baseline_app.sql import CREATE_SQL
    from conversations import services
    from routing import services as routing_services
    from routing.models import AgentWork
    from tenants.models import Membership

    client = Client(HTTP_HOST="127.0.0.1")
    auth = stack.partner_auth(client, demo)
    channel = "acme-webchat-1"
    agent = Membership.objects.filter(tenant__slug="acme", role="agent").order_by("display_name").first()
    routing_services.capacity_set(membership=agent, capacity={"messaging": 20})
    routing_services.presence_set(membership=agent, status="online")
    senders = [f"cpu-{n}" for n in range(10)]
    seq = iter(range(10**9))

    def ingest() -> None:
        sender = senders[next(seq) % len(senders)]
        body = {"to": channel, "from": sender, "entries": [{"id": f"cpu-{time.time()}-{next(seq)}", "type": "message",
                                                            "text": "where is my parcel?"}]}  # fmt: skip
        r = client.post("/api/v1/interactions/", json.dumps(body), content_type="application/json", **auth)
        assert r.status_code == 201, r.content

    for sender in senders:  # open the conversations and have the agent accept them
        body = {"to": channel, "from": sender, "entries": [{"id": f"open-{sender}", "type": "message", "text": "hi"}]}
        r = client.post("/api/v1/interactions/", json.dumps(body), content_type="application/json", **auth)
        assert r.status_code == 201, r.content
    for work in AgentWork.objects.filter(agent=agent, status="offered"):
        with transaction.atomic():
            services.agent_work_accept(agent=agent, work=work)
    conversation_ids = [
        str(pk) for pk in agent.participations.filter(left_at__isnull=True).values_list("conversation_id", flat=True)
    ]
    assert len(conversation_ids) == len(senders), conversation_ids
    agent_client = Client(HTTP_HOST="127.0.0.1")
    agent_client.force_login(agent.user)

    def reply() -> None:
        conversation_id = conversation_ids[next(seq) % len(conversation_ids)]
        r = agent_client.post(
            f"/api/v1/agent/conversations/{conversation_id}/messages/",
            json.dumps({"text": "It left our depot this morning."}),
            content_type="application/json",
        )
        assert r.status_code == 201, r.content

    with connection.cursor() as c:
        c.execute(CREATE_SQL)

    def baseline() -> None:
        r = client.post("/bench/insert/", json.dumps({"text": "where is my parcel?", "n": next(seq)}),
                        content_type="application/json")  # fmt: skip
        assert r.status_code == 201, r.content

    from conversations.models import Conversation

    spare = Membership.objects.filter(tenant=agent.tenant, role="agent").exclude(pk=agent.pk).order_by("pk").first()
    routing_services.capacity_set(membership=spare, capacity={"messaging": 50})
    routing_services.presence_set(membership=spare, status="online")
    opened: list[str] = []

    def new() -> None:
        n = next(seq)
        body = {"to": channel, "from": f"new-{n}", "entries": [{"id": f"new-{n}", "type": "message", "text": "hello"}]}
        r = client.post("/api/v1/interactions/", json.dumps(body), content_type="application/json", **auth)
        assert r.status_code == 201, r.content
        opened.append(r.json()["conversation_id"])

    def close_opened() -> None:  # not measured: frees the agents' capacity for the next one
        while opened:
            conversation = Conversation.objects.get(pk=opened.pop())
            sessions = [str(pk) for pk in conversation.sessions.values_list("id", flat=True)]
            assert AgentWork.objects.filter(work_item__reference__in=sessions).exists(), "not offered"
            services.conversation_close(conversation=conversation, closed_by="system")

    paths = {"baseline": baseline, "ingest": ingest, "reply": reply, "new": new}
    queries: dict[str, list[int]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    wall: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(30):  # warm-up
        for fn in paths.values():
            fn()
            close_opened()
    if args.show_queries:
        for name, fn in paths.items():
            with CaptureQueriesContext(connection) as captured:
                fn()
            close_opened()
            print(f"== {name}: {len(captured)} queries")
            for q in captured:
                print("  " + q["sql"][:400])
        stack.purge_queue()
        return 0
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)  # CPU, not wall: waits on the database are not ours
        profiler.enable()
        for _ in range(args.n):
            paths[args.profile]()
            profiler.disable()
            close_opened()
            profiler.enable()
        profiler.disable()
        stack.purge_queue()
        for order in ("tottime", "cumulative"):
            pstats.Stats(profiler).sort_stats(order).print_stats(140)
        return 0
    for _ in range(20):  # counted apart: capturing queries costs CPU of its own
        for name, fn in paths.items():
            with CaptureQueriesContext(connection) as captured:
                fn()
            queries[name].append(len(captured))
            close_opened()
    bouncer0 = pgbouncer_cpu_ms()
    for i in range(args.n):
        names = list(paths)
        names = names[i % len(names) :] + names[: i % len(names)]  # rotate: no path always follows another
        for name in names:
            c0, w0 = time.process_time(), time.perf_counter()
            paths[name]()
            cpu[name].append((time.process_time() - c0) * 1000)
            wall[name].append((time.perf_counter() - w0) * 1000)
            close_opened()
    bouncer_per_round = (pgbouncer_cpu_ms() - bouncer0) / args.n  # the three paths together: not separable
    results = {}
    for name in paths:
        results[name] = {
            "n": args.n,
            "cpu_ms_mean": round(statistics.fmean(cpu[name]), 2),
            "cpu_ms_median": round(statistics.median(cpu[name]), 2),
            "wall_ms_median": round(statistics.median(wall[name]), 2),
            "queries": max(set(queries[name]), key=queries[name].count),
        }
    base = results["baseline"]["cpu_ms_median"]
    for r in results.values():
        r["vs_baseline"] = round(r["cpu_ms_median"] / base, 2) if base else None
    stack.purge_queue()
    through = "  through PgBouncer (transaction pooling)" if stack.PGBOUNCER is not None else ""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"cpu_per_request  {stamp}  loadavg {os.getloadavg()}  n={args.n} interleaved{through}")
    if through:
        print(f"  pgbouncer CPU per round of the three paths: {bouncer_per_round:.2f} ms")
    columns = ("CPU ms mean", 12), ("CPU ms median", 14), ("wall ms median", 15), ("queries", 8), ("vs baseline", 12)
    print(f"{'path':8} " + " ".join(f"{title:>{width}}" for title, width in columns))
    for name, r in results.items():
        figures = f"{r['cpu_ms_mean']:12.2f} {r['cpu_ms_median']:14.2f} {r['wall_ms_median']:15.2f} {r['queries']:8}"
        print(f"{name:8} {figures} {r['vs_baseline']:11.2f}x")
    targets = {"ingest": 4.0, "reply": 5.0}
    for name, limit in targets.items():
        ratio = results[name]["vs_baseline"]
        print(f"  [{'met' if ratio <= limit else 'NOT met'}] {name} <= {limit:g}x the bare DRF insert: {ratio}x")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

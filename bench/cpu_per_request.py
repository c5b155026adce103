"""CPU and queries per request of the two hot paths, in one process: `python bench/cpu_per_request.py`.

Less sensitive to a busy machine than the load scenarios of bench/run.py (CPU time, not wall time,
is what it reports), so it is the figure to compare two checkouts by: run it in each, one after the
other (docs/performance.md does so for the commit before the hot-path work and for HEAD).

Recreates the database `ccp_bench_cpu` (migrate + ccp_demo; the suite's Redis db and prefixes, so do
not run it beside bench/run.py), then through Django's test client with the real middleware,
PostgreSQL, Redis (channel layer, cache, Celery broker; no worker runs and the queue is purged at
the end) and the on-commit fan-out:
- ingest: a partner POSTs a message into a conversation an agent holds (the common case);
- reply: that agent POSTs a message through the agent API (the outbound path, consent checked).
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
    demo = stack.setup_django(args.database)
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

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

    results = {}
    for name, fn in (("ingest", ingest), ("reply", reply)):
        for _ in range(30):
            fn()
        queries = []
        for _ in range(20):  # counted apart: capturing queries costs CPU of its own
            with CaptureQueriesContext(connection) as captured:
                fn()
            queries.append(len(captured))
        cpu, wall = [], []
        bouncer0 = pgbouncer_cpu_ms()
        for _ in range(args.n):
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
        results[name] = {
            "n": args.n,
            "cpu_ms_mean": round(statistics.fmean(cpu), 2),
            "cpu_ms_median": round(statistics.median(cpu), 2),
            "wall_ms_median": round(statistics.median(wall), 2),
            "queries": max(set(queries), key=queries.count),
            "pgbouncer_cpu_ms_mean": round((pgbouncer_cpu_ms() - bouncer0) / args.n, 2),
        }
    stack.purge_queue()
    through = "  through PgBouncer (transaction pooling)" if stack.PGBOUNCER is not None else ""
    print(f"cpu_per_request  {time.strftime('%Y-%m-%d %H:%M:%S')}  loadavg {os.getloadavg()}{through}")
    header = f"{'path':8} {'CPU ms mean':>12} {'CPU ms median':>14} {'wall ms median':>15} {'queries':>8}"
    print(header + (f" {'pgbouncer CPU ms':>17}" if through else ""))
    for name, r in results.items():
        figures = f"{r['cpu_ms_mean']:12.2f} {r['cpu_ms_median']:14.2f} {r['wall_ms_median']:15.2f} {r['queries']:8}"
        print(f"{name:8} {figures}" + (f" {r['pgbouncer_cpu_ms_mean']:17.2f}" if through else ""))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

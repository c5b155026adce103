"""CPU and queries of the agent requests of the routing scenario, in one process:
`python bench/cpu_routing.py`.

The routing scenario of bench/run.py has 100 agents come online (PUT /api/v1/agent/status/) and accept
every offer (POST /api/v1/agent/work/{id}/accept/) on the same REST workers; this measures what one
of each costs, as bench/cpu_per_request.py does for ingest and reply (process CPU, not wall time: the
figure to compare two checkouts by, run one after the other).

Recreates the database `ccp_bench_cpu_routing` (migrate + ccp_demo; the suite's Redis db and
prefixes — set BENCH_REDIS_URL to move them — so do not run it beside bench/run.py), then through
Django's test client with the real middleware, PostgreSQL, Redis and the on-commit fan-out:
- accept: a partner opens a conversation (routed in its request to an online agent), then the agent
  accepts the offer and closes the conversation; only the accept is measured;
- online: an agent with no work goes away and back online; only the PUT online is measured (it asks
  for a dispatch — a Redis round trip; no worker runs and the queue is purged at the end).
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
    p.add_argument("-n", type=int, default=150, help="requests per path (after 20 warm-up requests)")
    p.add_argument("--json", dest="json_out", help="also write the figures to this file")
    p.add_argument("--agents", type=int, default=200, help="offline agents added to the tenant (bench/run.py has ~200)")
    p.add_argument("--queries", action="store_true", help="print the SQL of one request of each path")
    p.add_argument("--profile", choices=("online", "accept"), help="print a pyinstrument call tree of this path")
    p.add_argument("--database", default="ccp_bench_cpu_routing", help="recreated on every run (a ccp_bench* name)")
    args = p.parse_args(argv)
    stack.recreate_database(args.database)
    stack.manage(args.database, "migrate", "--no-input", "-v", "0")
    demo = stack.setup_django(args.database)
    from django.db import connection
    from django.test import Client

    from conversations.models import Session
    from routing import services as routing_services
    from routing.models import AgentWork
    from tenants.models import Membership

    client = Client(HTTP_HOST="127.0.0.1")
    auth = stack.partner_auth(client, demo)
    channel = "acme-webchat-1"
    agents = list(Membership.objects.filter(tenant__slug="acme", role="agent").order_by("display_name"))
    if args.agents:  # offline colleagues, as bench/run.py makes them
        from bench.run import make_agents

        make_agents("cr", args.agents, 12)
    clients = {}
    for agent in agents:
        routing_services.capacity_set(membership=agent, capacity={"messaging": 20})
        routing_services.presence_set(membership=agent, status="online")
        clients[agent.pk] = Client(HTTP_HOST="127.0.0.1")
        clients[agent.pk].force_login(agent.user)
    seq = iter(range(10**9))

    def offer() -> AgentWork:
        sender = f"cpu-routing-{next(seq)}"
        body = {"to": channel, "from": sender, "entries": [{"id": f"{sender}-1", "type": "message", "text": "hi"}]}
        r = client.post("/api/v1/interactions/", json.dumps(body), content_type="application/json", **auth)
        assert r.status_code == 201, r.content
        return AgentWork.objects.filter(status="offered").latest("offered_at")

    def accept(work: AgentWork) -> None:
        r = clients[work.agent_id].post(f"/api/v1/agent/work/{work.pk}/accept/")
        assert r.status_code == 200, r.content

    def close(work: AgentWork) -> None:  # not measured: frees the place for the next offer
        conversation_id = Session.objects.get(pk=work.work_item.reference).conversation_id
        r = clients[work.agent_id].post(f"/api/v1/agent/conversations/{conversation_id}/close/")
        assert r.status_code == 200, r.content

    status_client = clients[agents[0].pk]

    def put_status(status: str) -> None:
        r = status_client.put("/api/v1/agent/status/", json.dumps({"status": status}), content_type="application/json")
        assert r.status_code == 200, r.content

    def online(_) -> None:
        put_status("online")

    def measure(prepare, run, after=lambda _: None, *, profile: bool = False) -> dict:
        for _ in range(20):
            arg = prepare()
            run(arg)
            after(arg)
        queries = []
        for _ in range(10):  # counted apart: capturing queries costs CPU of its own
            arg = prepare()
            counted: list[str] = []

            def count(execute, sql, *rest, counted=counted):
                counted.append(sql)
                return execute(sql, *rest)

            with connection.execute_wrapper(count):
                run(arg)
            after(arg)
            queries.append(len(counted))
            if args.queries and len(queries) == 1:
                print(f"-- {run.__name__}: {len(counted)} queries")
                for sql in counted:
                    print("   ", sql[:160])
        cpu, wall = [], []
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        for _ in range(args.n):
            arg = prepare()
            c0, w0 = time.process_time(), time.perf_counter()
            run(arg)
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
            after(arg)
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        return {
            "n": args.n,
            "cpu_ms_mean": round(statistics.fmean(cpu), 2),
            "cpu_ms_median": round(statistics.median(cpu), 2),
            "wall_ms_median": round(statistics.median(wall), 2),
            "queries": max(set(queries), key=queries.count),
        }

    results = {
        "online": measure(lambda: put_status("away"), online, profile=args.profile == "online"),
        "accept": measure(offer, accept, close, profile=args.profile == "accept"),
    }
    stack.purge_queue()
    print(f"cpu_routing  {time.strftime('%Y-%m-%d %H:%M:%S')}  loadavg {os.getloadavg()}")
    print(f"{'path':8} {'CPU ms mean':>12} {'CPU ms median':>14} {'wall ms median':>15} {'queries':>8}")
    for name, r in results.items():
        figures = f"{r['cpu_ms_mean']:12.2f} {r['cpu_ms_median']:14.2f} {r['wall_ms_median']:15.2f} {r['queries']:8}"
        print(f"{name:8} {figures}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

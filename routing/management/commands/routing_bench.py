"""Measure the platform routing engine: decisions per second, decision latency and fairness.

Creates a throw-away tenant with N agents online and M waiting work items, lets the dispatcher
offer them in batched rounds (capacity counted under the agents' row locks), prints a table and
removes the tenant. Run it against PostgreSQL (DATABASE_URL) for figures that mean something.

p50/p99 are the decisions' logged latencies: for a dispatch round, the round's time up to its writes,
shared by every offer of the round (none is visible before the round commits).
"""

import json
import statistics
import time
import uuid

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from routing import services
from routing.choices import HOLDING_STATUSES
from routing.models import AgentPresence, AgentWork, RouteDecision, WorkItem
from tenants.choices import Role
from tenants.models import Membership, Tenant


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Command(BaseCommand):
    help = "Benchmark platform routing: decisions/s, p50/p99 decision latency, fairness (std dev of load)."

    def add_arguments(self, parser):
        parser.add_argument("--conversations", type=int, default=1000)
        parser.add_argument("--agents", type=int, default=100)
        parser.add_argument("--capacity", type=int, default=10, help="messaging capacity per agent")
        parser.add_argument("--strategy", default="most_available")
        parser.add_argument("--batch", type=int, default=200, help="work items per dispatch round")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--keep", action="store_true", help="keep the bench tenant for inspection")

    def handle(self, *args, **opts):
        from django.contrib.auth import get_user_model

        slug = f"bench-{uuid.uuid4().hex[:8]}"
        tenant = Tenant.objects.create(slug=slug, name="Routing bench")
        User = get_user_model()
        try:
            users = User.objects.bulk_create(
                [User(username=f"{slug}-a{i}", password="!") for i in range(opts["agents"])]
            )
            members = Membership.objects.bulk_create(
                [Membership(user=u, tenant=tenant, role=Role.AGENT) for u in users]
            )
            AgentPresence.objects.bulk_create(
                [
                    AgentPresence(
                        membership=m, tenant=tenant, status="online", capacity={"messaging": opts["capacity"]}
                    )
                    for m in members
                ]
            )
            WorkItem.objects.bulk_create(
                [WorkItem(tenant=tenant, reference=f"bench-{i}") for i in range(opts["conversations"])]
            )
            with self.settings_strategy(opts["strategy"]):
                started = time.perf_counter()
                offered = 0
                while True:
                    made = services.routing_dispatch(tenant_id=tenant.pk, limit=opts["batch"])
                    offered += made
                    if made == 0:
                        break
                elapsed = time.perf_counter() - started
            decisions = RouteDecision.objects.filter(tenant=tenant)
            latencies = list(decisions.values_list("latency_ms", flat=True))
            loads = [AgentWork.objects.filter(agent=m, status__in=HOLDING_STATUSES).count() for m in members]
            over = sum(1 for load in loads if load > opts["capacity"])
            result = {
                "database": connection.vendor,
                "agents": opts["agents"],
                "capacity_each": opts["capacity"],
                "waiting_conversations": opts["conversations"],
                "strategy": opts["strategy"],
                "batch": opts["batch"],
                "offers_made": offered,
                "decisions": len(latencies),
                "seconds": round(elapsed, 3),
                "decisions_per_second": round(len(latencies) / elapsed, 1) if elapsed else 0,
                "p50_ms": round(_percentile(latencies, 0.50), 2),
                "p99_ms": round(_percentile(latencies, 0.99), 2),
                "load_mean": round(statistics.mean(loads), 2),
                "load_stdev": round(statistics.pstdev(loads), 2),
                "over_capacity_agents": over,
            }
        finally:
            if not opts["keep"]:
                with transaction.atomic():
                    WorkItem.objects.filter(tenant=tenant).delete()
                    User.objects.filter(username__startswith=f"{slug}-").delete()
                    tenant.delete()
        if opts["json"]:
            self.stdout.write(json.dumps(result))
            return
        width = max(len(k) for k in result)
        self.stdout.write("routing bench")
        for key, value in result.items():
            self.stdout.write(f"  {key.ljust(width)}  {value}")

    def settings_strategy(self, strategy: str):
        from django.test.utils import override_settings

        return override_settings(ROUTING_DEFAULT_STRATEGY=strategy)

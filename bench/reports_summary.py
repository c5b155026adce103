"""The summary report over one million conversations: `python bench/reports_summary.py [--rows N]`.

Recreates a dedicated database `ccp_bench_ops` (never the suite's or another bench's), migrates it,
seeds one tenant with 20 agents, 3 queues and N conversations in November 2026 — each with its
messaging work item, for 90 % an answered AgentWork with handle time and ACW, for 10 % an abandon, an
inbound message and (when answered) the agent's reply, 5 % extra transfer work items — plus the
agents' presence history, all with INSERT … SELECT FROM generate_series (about a minute for a
million). Then times the reports (each the median of --repeat runs, after one warm-up) and prints a
table. The target: the month by day under one second.

Not part of the test suite (tests/bench/ only smoke-runs the main bench). Uses PostgreSQL at
BENCH_PG (default postgres://postgres@127.0.0.1:5432) and no Redis.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DB = "ccp_bench_ops"
START = datetime(2026, 11, 1, tzinfo=UTC)
AGENTS, QUEUES, DAYS = 20, 3, 30

SEED = """
CREATE TEMP TABLE seed AS
SELECT n, gen_random_uuid() AS conv, gen_random_uuid() AS item, gen_random_uuid() AS ref,
       %(start)s::timestamptz + (n::float8 / %(rows)s) * interval '30 days' AS created,
       (random() * 60)::int AS wait, random() < 0.9 AS answered,
       60 + (random() * 840)::int AS handle, (random() * 120)::int AS acw,
       n %% 100000 AS contact_no, n %% %(agents)s AS agent_no, n %% %(queues)s AS queue_no
FROM generate_series(1, %(rows)s) AS n;
CREATE TEMP TABLE contact_ids AS SELECT k AS contact_no, gen_random_uuid() AS id FROM generate_series(0, 99999) AS k;
INSERT INTO conversations_contact (id, tenant_id, name, created_at, updated_at)
    SELECT id, %(tenant)s, 'Contact ' || contact_no, %(start)s, %(start)s FROM contact_ids;
INSERT INTO conversations_conversation (id, tenant_id, channel_address_id, end_user_address, status,
        routing_owner, initiated_by, created_at, updated_at, last_seq, contact_id, closed_at)
    SELECT s.conv, %(tenant)s, '+15550001', '+49' || s.n, 'closed', 'platform', 'end_user', s.created,
           s.created, 2, c.id, s.created + make_interval(secs => s.wait + s.handle)
    FROM seed s JOIN contact_ids c USING (contact_no);
INSERT INTO routing_workitem (id, tenant_id, kind, reference, channel_type, routing_owner, required_skills,
        priority, attributes, status, excluded_agents, is_transfer, created_at, enqueued_at, queue_id, done_at)
    SELECT s.item, %(tenant)s, 'messaging_session', s.ref::text, 'messaging', 'platform', '[]', 0,
           jsonb_build_object('conversation_id', s.conv::text, 'channel_address_id', '+15550001'),
           CASE WHEN s.answered THEN 'done' ELSE 'canceled' END, '[]', false, s.created, s.created,
           (%(queue_ids)s::uuid[])[s.queue_no + 1],
           s.created + make_interval(secs => CASE WHEN s.answered THEN s.wait + s.handle ELSE s.wait / 4 END)
    FROM seed s;
INSERT INTO routing_agentwork (id, tenant_id, work_item_id, agent_id, channel_type, weight, engine, status,
        offered_at, expires_at, answered_at, closed_at, ended_at, reason)
    SELECT gen_random_uuid(), %(tenant)s, s.item, (%(agent_ids)s::uuid[])[s.agent_no + 1], 'messaging', 1,
           'platform', 'closed', s.created, s.created + interval '30 seconds',
           s.created + make_interval(secs => s.wait), s.created + make_interval(secs => s.wait + s.handle),
           s.created + make_interval(secs => s.wait + s.handle + s.acw), ''
    FROM seed s WHERE s.answered;
INSERT INTO routing_workitem (id, tenant_id, kind, reference, channel_type, routing_owner, required_skills,
        priority, attributes, status, excluded_agents, is_transfer, created_at, enqueued_at, queue_id, done_at)
    SELECT gen_random_uuid(), %(tenant)s, 'messaging_session', s.ref::text, 'messaging', 'platform', '[]', 0,
           jsonb_build_object('conversation_id', s.conv::text, 'channel_address_id', '+15550001'), 'done', '[]',
           true, s.created + interval '2 minutes', s.created + interval '2 minutes',
           (%(queue_ids)s::uuid[])[((s.queue_no + 1) %% %(queues)s) + 1], s.created + interval '10 minutes'
    FROM seed s WHERE s.n %% 20 = 0;
INSERT INTO conversations_message (id, tenant_id, conversation_id, seq, direction, sender_type, sender_name,
        text, attachments, channel_address_id, status, failure_reason, created_at)
    SELECT gen_random_uuid(), %(tenant)s, s.conv, 1, 'inbound', 'end_user', '', 'hello', '[]', '+15550001',
           'received', '', s.created
    FROM seed s;
INSERT INTO conversations_message (id, tenant_id, conversation_id, seq, direction, sender_type, sender_name,
        text, attachments, channel_address_id, status, failure_reason, created_at, agent_id)
    SELECT gen_random_uuid(), %(tenant)s, s.conv, 2, 'outbound', 'agent', 'Agent', 'hi', '[]', '+15550001',
           'sent', '', s.created + make_interval(secs => s.wait + 5), (%(agent_ids)s::uuid[])[s.agent_no + 1]
    FROM seed s WHERE s.answered;
INSERT INTO routing_agentstatusspan (tenant_id, agent_id, status, started_at, ended_at)
    SELECT %(tenant)s, a.id, p.status, d.day + p.since, d.day + p.until
    FROM unnest(%(agent_ids)s::uuid[]) AS a(id)
    CROSS JOIN generate_series(%(start)s::timestamptz, %(start)s::timestamptz + interval '29 days', interval '1 day')
        AS d(day)
    CROSS JOIN (VALUES ('online', interval '0 hours', interval '12 hours'),
                       ('away', interval '12 hours', interval '12.5 hours'),
                       ('online', interval '12.5 hours', interval '23.9 hours'),
                       ('offline', interval '23.9 hours', interval '24 hours')) AS p(status, since, until);
ANALYZE;
"""


def _psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_REPORT_ROWS", 1_000_000)))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse the seeded database (skip seeding)")
    args = parser.parse_args(argv)

    server = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    os.environ.update(
        DATABASE_URL=f"{server}/{DB}",
        REDIS_URL="",
        DJANGO_SETTINGS_MODULE="tests.settings",
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    if not args.keep:
        _psql(f"{server}/postgres", f"DROP DATABASE IF EXISTS {DB}")
        _psql(f"{server}/postgres", f"CREATE DATABASE {DB}")
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], check=True, cwd=ROOT)

    import django

    django.setup()
    from django.db import connection

    from ccp.operations import selectors
    from ccp.operations.models import AgentRollup, RollupState, WorkRollup
    from ccp.operations.services import operations_rollup
    from routing.models import Queue
    from tenants.models import Tenant
    from tests.factories import MembershipFactory, TenantFactory

    if args.keep:
        tenant = Tenant.objects.get(slug="bench")
    else:
        started = time.perf_counter()
        tenant = TenantFactory(slug="bench", name="Bench")
        agents = [MembershipFactory(tenant=tenant, role="agent", user__password="x") for _ in range(AGENTS)]
        queues = [Queue.objects.create(tenant=tenant, name=f"q{k}") for k in range(QUEUES)]
        with connection.cursor() as cursor:
            cursor.execute(
                SEED,
                {
                    "tenant": tenant.pk,
                    "rows": args.rows,
                    "start": START,
                    "agents": AGENTS,
                    "queues": QUEUES,
                    "agent_ids": [a.pk for a in agents],
                    "queue_ids": [q.pk for q in queues],
                },
            )
        print(f"seeded {args.rows:,} conversations and their work in {time.perf_counter() - started:.1f} s")

    def month(interval: str = "day"):
        return selectors.report_range_for(tenant=tenant, start="2026-11-01", end="2026-11-30", interval=interval)

    def summary():
        return selectors.report_summary(tenant=tenant, range_=month())

    RollupState.objects.filter(tenant=tenant).delete()
    WorkRollup.objects.filter(tenant=tenant).delete()
    AgentRollup.objects.filter(tenant=tenant).delete()
    started = time.perf_counter()
    raw_total = summary()["total"]
    raw_seconds = time.perf_counter() - started
    started = time.perf_counter()
    settled = operations_rollup(tenant=tenant, now=datetime(2026, 12, 15, tzinfo=UTC), max_days=60)
    rollup_seconds = time.perf_counter() - started
    print(
        f"rollup of November built in {rollup_seconds:.1f} s (settled until {settled:%Y-%m-%d %H:%M}): "
        f"{WorkRollup.objects.filter(tenant=tenant).count():,} work rows, "
        f"{AgentRollup.objects.filter(tenant=tenant).count():,} agent rows"
    )

    cases = [
        ("summary, November by day", summary),
        ("summary, by day, one queue", lambda: selectors.report_summary(tenant=tenant, range_=month(), queue="q1")),
        ("summary, November by hour", lambda: selectors.report_summary(tenant=tenant, range_=month("hour"))),
        ("agents, November", lambda: selectors.report_agents(tenant=tenant, range_=month())),
        ("realtime", lambda: selectors.report_realtime(tenant=tenant)),
    ]
    rows = []
    check = None
    for name, run in cases:
        result = run()  # warm-up
        if check is None:
            check = result["total"]
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        rows.append((name, statistics.median(times), max(times)))
    # the usual case: the last day or two not settled yet, read from the raw records
    RollupState.objects.filter(tenant=tenant).update(settled_until=datetime(2026, 11, 29, tzinfo=UTC))
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        tail_total = summary()["total"]
        times.append(time.perf_counter() - started)
    RollupState.objects.filter(tenant=tenant).update(settled_until=settled)
    rows.insert(1, ("summary, by day, last 2 days from raw records", statistics.median(times), max(times)))
    assert tail_total["offered"] == raw_total["offered"] and tail_total["handled"] == raw_total["handled"]
    rows.append(("summary, November by day, raw records (no rollup)", raw_seconds, raw_seconds))
    assert {k: round(v, 6) if isinstance(v, float) else v for k, v in check.items()} == {
        k: round(v, 6) if isinstance(v, float) else v for k, v in raw_total.items()
    }, "the rollup's report differs from the raw records'"
    width = max(len(r[0]) for r in rows)
    print(f"\n{'report':<{width}}  median s  max s")
    for name, median, worst in rows:
        print(f"{name:<{width}}  {median:8.3f}  {worst:5.3f}")
    print(
        f"\nNovember total: offered {check['offered']:,}, answered {check['answered']:,}, "
        f"service level {check['service_level']:.3f}, ASA {check['asa_seconds']:.1f} s, "
        f"AHT {check['aht_seconds']:.1f} s, occupancy {check['occupancy']:.3f}, FCR {check['fcr']:.3f}"
    )
    target = rows[0][1]
    print(f"target: the month by day under 1 s — {'met' if target < 1 else 'NOT met'} ({target:.3f} s)")
    return 0 if target < 1 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The agent search (`GET /api/v1/agent/search/`, conversations.selectors_tools.search) on a million
messages: `python bench/search.py [--messages N] [--keep]`.

Creates a dedicated PostgreSQL database (`ccp_bench_sup` on the server of DATABASE_URL, or
BENCH_SEARCH_DATABASE_URL), migrates it, seeds one tenant with a supervisor and an agent, N messages
(default 1,000,000) in N/100 conversations — texts drawn from a 2,000-word vocabulary with a few
rare words — with one INSERT … SELECT generate_series, then times the search as the supervisor (all
of the tenant) and as the agent (the 100 conversations they took part in). Prints median and p95 per
query, and the plan's use of the GIN index. The database is dropped afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DB_NAME = "ccp_bench_sup"
QUERIES = ["refund", "card blocked", "parcel delayed", "zebracorn", '"wrong address"', "invoice -paid"]


def _database_url() -> str:
    explicit = os.environ.get("BENCH_SEARCH_DATABASE_URL")
    if explicit:
        return explicit
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return urlunsplit(base._replace(path=f"/{DB_NAME}"))


def _psql(url: str, sql: str) -> None:
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the database for a second run")
    args = parser.parse_args(argv)
    url = _database_url()
    name = urlsplit(url).path.lstrip("/")
    _psql(url, f'DROP DATABASE IF EXISTS "{name}"')
    _psql(url, f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    _tenant_id, supervisor, agent = _seed(args.messages)
    print(f"seeded {args.messages:,} messages in {time.monotonic() - started:.0f} s")

    from conversations.selectors_tools import search

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_relation_size('conversations_message_text_fts'))")
        print(f"GIN index size: {cursor.fetchone()[0]}")
        cursor.execute(
            "EXPLAIN SELECT id FROM conversations_message WHERE to_tsvector('simple'::regconfig, text) "
            "@@ websearch_to_tsquery('simple'::regconfig, 'refund')"
        )
        plan = "\n".join(r[0] for r in cursor.fetchall())
        print("uses the GIN index:", "conversations_message_text_fts" in plan)
    plan = _search_plan(supervisor, "refund")
    print("the search query's plan uses the GIN index:", "conversations_message_text_fts" in plan)
    if os.environ.get("BENCH_SEARCH_PLAN"):
        print(plan)
    print(f"{'who':<11} {'query':<18} {'hits':>5} {'median ms':>10} {'p95 ms':>8}")
    for who, member in (("supervisor", supervisor), ("agent", agent)):
        for q in QUERIES:
            search(membership=member, q=q)  # warm
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                found = search(membership=member, q=q)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"{who:<11} {q:<18} {len(found['messages']):>5} {statistics.median(times):>10.1f} {p95:>8.1f}")
    connection.close()
    if not args.keep:
        _psql(url, f'DROP DATABASE IF EXISTS "{name}"')


def _search_plan(member, q: str) -> str:
    """EXPLAIN of the message query `search` runs (captured from the connection's query log)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.selectors_tools import search

    with CaptureQueriesContext(connection) as queries:
        search(membership=member, q=q)
    sql = next(x["sql"] for x in queries.captured_queries if "ts_rank_cd" in x["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(r[0] for r in cursor.fetchall())


def _seed(messages: int):
    from django.db import connection, transaction

    from conversations.models import Contact, Conversation, Participant
    from tenants.models import Membership, Tenant
    from tests.factories import MembershipFactory

    with transaction.atomic():
        tenant = Tenant.objects.create(slug="bench", name="Bench")
        supervisor = MembershipFactory(tenant=tenant, role="supervisor")
        agent = MembershipFactory(tenant=tenant, role="agent")
        per = 100
        count = max(1, messages // per)
        contacts = Contact.objects.bulk_create([Contact(tenant=tenant, name=f"Contact {i}") for i in range(count)])
        conversations = Conversation.objects.bulk_create(
            [
                Conversation(
                    tenant=tenant,
                    channel_address_id="bench-1",
                    contact=c,
                    end_user_address=f"+49{i:09d}",
                    status="closed",
                )
                for i, c in enumerate(contacts)
            ]
        )
        Participant.objects.bulk_create(
            [Participant(tenant=tenant, conversation=c, agent=agent) for c in conversations[:100]]
        )
    words = [f"w{i}" for i in range(2000)] + [
        "refund",
        "card",
        "blocked",
        "parcel",
        "delayed",
        "wrong",
        "address",
        "invoice",
        "paid",
        "please",
        "thanks",
        "hello",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_conv AS SELECT row_number() OVER () - 1 AS n, id FROM conversations_conversation"
        )
        cursor.execute(
            """
            INSERT INTO conversations_message
                (id, tenant_id, conversation_id, seq, direction, sender_type, sender_name, text, attachments,
                 channel_address_id, status, failure_reason, created_at)
            SELECT gen_random_uuid(), %s, c.id, (g %% %s) + 1,
                   CASE WHEN g %% 2 = 0 THEN 'inbound' ELSE 'outbound' END,
                   CASE WHEN g %% 2 = 0 THEN 'end_user' ELSE 'agent' END, '',
                   (SELECT string_agg(w[1 + floor(random() * array_length(w, 1))::int + s * 0], ' ')
                      FROM generate_series(1, 6 + (g %% 12)) s)
                   || CASE WHEN g %% 100000 = 7 THEN ' zebracorn' ELSE '' END,
                   '[]', 'bench-1', 'received', '', now() - (g || ' seconds')::interval
            FROM generate_series(0, %s - 1) g
            JOIN bench_conv c ON c.n = g / %s,
                 (SELECT %s::text[] AS w) words
            """,
            [tenant.pk, per, count * per, per, words],
        )
        cursor.execute("ANALYZE")
    return tenant.pk, Membership.objects.get(pk=supervisor.pk), Membership.objects.get(pk=agent.pk)


if __name__ == "__main__":
    main()

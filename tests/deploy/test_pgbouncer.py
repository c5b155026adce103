"""PgBouncer in transaction pooling mode in front of PostgreSQL, with DB_PGBOUNCER=1 (docs/deployment.md).

A real PgBouncer (Debian's package, our own process and ini; bench/pgbouncer.py) with a pool of two or
three server connections, so consecutive transactions of one client really run on different server
connections and many clients share each one. Django, daphne and the Celery worker connect through it
the way a deployment would; the test process itself stays on PostgreSQL directly (it checks the rows).

What would break under transaction pooling, and is shown here not to: the replay-id numbering (an
advisory *transaction* lock), SKIP LOCKED dispatch, prepared statements (psycopg's, pinned off) and
server-side cursors (turned off), the time zone Django sets on connect. The two failure modes the
setting prevents are shown with it off: they are deterministic with PgBouncer's LIFO choice of server.

PgBouncer missing fails the test (never skips): `.ci/services` installs it for `make test`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from django.conf import settings
from django.db import connection

from bench.pgbouncer import BINARY_HINT, PgBouncer, pgbouncer_binary
from ccp.events.models import Event
from conversations.models import Conversation
from routing.models import AgentWork, RouteDecision, WorkItem
from tests.conversations.conftest import install
from tests.factories import PASSWORD
from tests.helpers import token_for
from tests.routing.test_dispatch import assert_capacity_and_single_offers, online_agents, waiting
from tests.servers import celery_worker_process, daphne_server, stop_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = Path(__file__).with_name("pgbouncer_client.py")
LOADGEN = Path(__file__).resolve().parent.parent / "routing" / "loadgen.py"
CLIENT_QUEUE = f"ccp-test-pgbouncer-clients-{os.getpid()}"


@pytest.fixture
def bouncer(transactional_db):
    """A PgBouncer (transaction mode, 2 server connections per database) in front of this run's PostgreSQL."""
    if pgbouncer_binary() is None:
        pytest.fail(BINARY_HINT, pytrace=False)
    db = connection.settings_dict
    with PgBouncer(pool_size=2, server_host=db["HOST"] or "127.0.0.1", server_port=int(db["PORT"] or 5432)) as b:
        yield b
    redis.Redis.from_url(settings.REDIS_URL).delete(CLIENT_QUEUE)


def _through(bouncer: PgBouncer, name: str = "ccp-test-pgbouncer") -> str:
    return bouncer.url(connection.settings_dict["NAME"], application_name=name)


def _client_env(bouncer: PgBouncer, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _through(bouncer),
        "DB_PGBOUNCER": "1",
        "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": CLIENT_QUEUE,  # the dispatch rounds' offer timers; dropped after each test
        **extra,
    }


def _spawn(bouncer: PgBouncer, job: dict, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CLIENT), json.dumps(job)],
        env=_client_env(bouncer, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_the_setting_pins_prepared_statements_and_server_side_cursors_off_and_keeps_utc(bouncer):
    # the URL asks for prepared statements; DB_PGBOUNCER overrides it
    env = _client_env(bouncer, DATABASE_URL=_through(bouncer) + "&prepare_threshold=0")
    out = subprocess.run(
        [sys.executable, str(CLIENT), json.dumps({"job": "settings"})], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {
        "prepare_threshold": None,
        "disable_server_side_cursors": True,
        "port": bouncer.port,
        "time_zone": "UTC",
    }


def test_concurrent_publishers_get_unique_gap_free_increasing_replay_ids(bouncer, tenant):
    """Four processes × 40 events, each event its own transaction and its own numbering statement, over
    two server connections: every id once, no gap, increasing in each publisher's order."""
    no_check = {"EVENTS_VALIDATE_PAYLOADS": "0"}
    processes = [
        # bare marker payloads: the numbering is under test here, not the payload declarations
        _spawn(bouncer, {"job": "publish", "tenant_id": str(tenant.pk), "count": 40, "name": f"p{n}"}, **no_check)
        for n in range(4)
    ]
    results = [_result(p) for p in processes]
    assert bouncer.server_connections(connection.settings_dict["NAME"]) <= 2

    ids = dict(Event.objects.filter(tenant=tenant, type="message.created").values_list("pk", "replay_id"))
    assert len(ids) == 160 and None not in ids.values()
    replay_ids = sorted(ids.values())
    assert replay_ids == list(range(replay_ids[0], replay_ids[0] + 160)), "a replay id was skipped or repeated"
    for result in results:
        mine = [ids[pk] for pk in result["pks"]]
        assert mine == sorted(mine), "a publisher's later event got a lower replay id"


def test_concurrent_dispatch_rounds_offer_every_item_once_within_capacity(bouncer, tenant):
    """Six processes dispatch 120 items to 8 agents × 15 at once through two server connections (rounds
    lock items and agents' presence rows with SKIP LOCKED): each item offered once, capacity filled exactly."""
    agents = online_agents(tenant, 8, 15)
    items = waiting(tenant, 120)
    processes = [_spawn(bouncer, {"job": "dispatch", "tenant_id": str(tenant.pk), "limit": 30}) for _ in range(6)]
    made = sum(_result(p)["made"] for p in processes)
    leftover = _result(_spawn(bouncer, {"job": "dispatch", "tenant_id": str(tenant.pk), "limit": 200}))["made"]

    assert made + leftover == 120
    assert sorted(AgentWork.objects.values_list("work_item_id", flat=True)) == sorted(i.pk for i in items)
    assert set(WorkItem.objects.values_list("status", flat=True)) == {"offered"}
    for agent in agents:
        assert AgentWork.objects.filter(agent=agent, status="offered").count() == 15
    assert RouteDecision.objects.filter(outcome="offered").count() == 120
    assert_capacity_and_single_offers(15)


def _psycopg_clients(bouncer: PgBouncer, **options):
    dsn = f"host=127.0.0.1 port={bouncer.port} user=postgres dbname={connection.settings_dict['NAME']}"
    return [psycopg.connect(dsn, autocommit=True, **options) for _ in range(2)]


@contextlib.contextmanager
def _other_client_holds_the_last_server(other):
    """`other` runs a transaction on the server connection the first client just released (PgBouncer
    hands out the most recently used one), so the first client's next statement gets another server."""
    with other.transaction():
        other.execute("SELECT 1")
        yield


def test_prepared_statements_fail_under_transaction_pooling_and_the_settings_value_does_not(bouncer):
    # psycopg prepares a statement from its prepare_threshold-th run on; 0 prepares at once
    first, other = _psycopg_clients(bouncer, prepare_threshold=0)
    try:
        # both on the one server connection in turn: the second client's statement gets psycopg's
        # first name too, which the first client's already holds there
        first.execute("SELECT count(*) FROM tenants_tenant WHERE slug = %s", ["x"])
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            other.execute("SELECT count(*) FROM tenants_tenant WHERE slug = %s", ["x"])
    finally:
        first.close()
        other.close()

    first, other = _psycopg_clients(bouncer, prepare_threshold=None)  # what DB_PGBOUNCER pins
    try:
        for i in range(20):  # far past psycopg's default threshold of 5, alternating server connections
            first.execute("SELECT count(*) FROM tenants_tenant WHERE slug = %s", [f"x{i}"])
            with _other_client_holds_the_last_server(other):
                assert first.execute("SELECT count(*) FROM tenants_tenant WHERE slug = %s", [f"y{i}"]).fetchone()
    finally:
        first.close()
        other.close()


def test_a_server_side_cursor_is_lost_between_transactions_so_the_setting_turns_them_off(bouncer, tenant):
    """QuerySet.iterator() on PostgreSQL declares a WITH HOLD cursor and fetches in later transactions:
    under transaction pooling the fetch can land on a server that never saw the cursor."""
    first, other = _psycopg_clients(bouncer)
    try:
        first.execute("DECLARE ccp_held CURSOR WITH HOLD FOR SELECT id FROM tenants_tenant")
        with _other_client_holds_the_last_server(other), pytest.raises(psycopg.errors.InvalidCursorName):
            first.execute("FETCH 1 FROM ccp_held")
    finally:
        first.close()
        other.close()


def test_a_time_zone_set_by_one_client_does_not_reach_another_on_the_same_server(bouncer):
    """Django sets its time zone on connect when the server's differs; PgBouncer tracks TimeZone per
    client and sets it on whichever server connection the client gets, so sharing one is safe."""
    tokyo, django_like = _psycopg_clients(bouncer)
    try:
        tokyo.execute("SET TIME ZONE 'Asia/Tokyo'")
        django_like.execute("SET TIME ZONE 'UTC'")
        for _ in range(5):
            with _other_client_holds_the_last_server(tokyo):
                assert django_like.execute("SHOW TimeZone").fetchone()[0] == "UTC"
            with _other_client_holds_the_last_server(django_like):
                assert tokyo.execute("SHOW TimeZone").fetchone()[0] == "Asia/Tokyo"
    finally:
        tokyo.close()
        django_like.close()


def test_a_node_served_through_pgbouncer_takes_arrivals_and_agents_work_without_5xx(
    bouncer, tenant, partner, connected_app
):
    """daphne and a Celery worker on three server connections, real HTTP from separate processes: new
    conversations from two partner processes while two agents accept, decline and close."""
    bouncer.stop()
    db = connection.settings_dict
    bouncer.pool_size = 3
    bouncer.start()
    channel = install(tenant, partner)
    agents = online_agents(tenant, 2, 5)
    token = token_for(connected_app)
    queue = f"ccp-test-pgbouncer-{uuid.uuid4().hex[:8]}"
    through = {"DATABASE_URL": _through(bouncer, "ccp-test-daphne"), "DB_PGBOUNCER": "1"}
    worker = celery_worker_process(queue=queue, env={**through, "DATABASE_URL": _through(bouncer, "ccp-test-worker")})
    try:
        with daphne_server(CELERY_QUEUE=queue, **through) as url:
            start_at = time.time() + 5
            processes = [
                _loadgen(
                    {
                        "mode": "agent",
                        "urls": [url],
                        "username": a.user.username,
                        "password": PASSWORD,
                        "seed": i,
                        "seconds": 12,
                        "start_at": start_at,
                    }
                )
                for i, a in enumerate(agents)
            ]
            processes += [
                _loadgen(
                    {
                        "mode": "arrivals",
                        "urls": [url],
                        "token": token,
                        "channel": channel.channel_address_id,
                        "prefix": f"p{i}",
                        "count": 15,
                        "threads": 4,
                        "start_at": start_at,
                    }
                )
                for i in range(2)
            ]
            results = [_loadgen_result(p) for p in processes]
            last = {"state": None}

            def settled():
                state = (WorkItem.objects.filter(status="queued").count(), AgentWork.objects.count())
                calm, last["state"] = state == last["state"], state
                return calm

            wait_for(settled, timeout=60, interval=2, what="routing to settle")
            # the partner reads what happened through the same server: the replay API pages the outbox
            page = requests.get(
                f"{url}/api/v1/events/?after=0&limit=100", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            assert page.status_code == 200, page.text[:500]
            replay_ids = [e["id"] for e in page.json()["events"]]
            assert replay_ids and replay_ids == sorted(set(replay_ids))
        assert bouncer.server_connections(db["NAME"]) <= 3
    finally:
        stop_process(worker)

    statuses: dict[str, int] = {}
    for result in results:
        for code, n in result["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    assert not [c for c in statuses if c.startswith("5")], [f for r in results for f in r["failures"]]
    assert sum(r["statuses"].get("201", 0) for r in results[2:]) == 30
    assert Conversation.objects.filter(tenant=tenant).count() == 30
    assert WorkItem.objects.filter(tenant=tenant).count() == 30
    assert AgentWork.objects.filter(tenant=tenant, status__in=("accepted", "acw", "closed")).exists()
    assert_capacity_and_single_offers(5)


def _loadgen(config: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(LOADGEN), json.dumps(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _loadgen_result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])

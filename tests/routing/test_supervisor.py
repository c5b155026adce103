"""The supervisor view: queues, agents and routing decisions of the tenant, for supervisors only."""

from django.db import transaction

from routing import services
from routing.models import Queue
from tests.factories import MembershipFactory
from tests.helpers import assert_error

from .test_engine import agent, item


def test_supervisor_sees_queues_agents_and_decisions(client, tenant, other_tenant):
    supervisor = MembershipFactory(tenant=tenant, role="supervisor")
    Queue.objects.create(tenant=tenant, name="billing")
    agent(tenant, "Alice", capacity=1)
    item(tenant, "one")
    waiting = item(tenant, "two", queue=Queue.objects.get(name="billing"))
    item(other_tenant, "foreign")
    client.force_login(supervisor.user)
    body = client.get("/api/v1/supervisor/overview/").json()
    queues = {q["name"]: q for q in body["queues"]}
    assert queues["billing"]["waiting"] == 1 and queues["(no queue)"]["offered"] == 1
    assert queues["billing"]["longest_wait_seconds"] >= 0
    alice = next(a for a in body["agents"] if a["name"] == "Alice")
    assert alice["status"] == "online" and alice["capacity"]["messaging"] == {"max": 1, "used": 1}
    assert {d["reference"] for d in body["decisions"]} == {"one", "two"}
    assert {d["outcome"] for d in body["decisions"]} == {"offered", "no_agent"}
    assert waiting.reference == "two"
    page = client.get("/supervisor/")
    assert page.status_code == 200 and b"Recent routing decisions" in page.content


def test_agents_cannot_open_the_supervisor_view(client, tenant):
    member = MembershipFactory(tenant=tenant, role="agent")
    client.force_login(member.user)
    assert_error(client.get("/api/v1/supervisor/overview/"), 403, "supervisor_only")
    assert client.get("/supervisor/").status_code == 403


def test_tenant_admin_counts_as_supervisor(client, tenant):
    admin = MembershipFactory(tenant=tenant, role="admin")
    client.force_login(admin.user)
    with transaction.atomic():
        services.presence_set(membership=admin, status="online")
    assert client.get("/api/v1/supervisor/overview/").status_code == 200

"""Routing's composed statements (routing/sql.py) read and write exactly what the ORM calls they stand
for would. On PostgreSQL; the embedded stack (SQLite) keeps the ORM path and is run by
tests/test_embedded.py."""

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ccp.core.bulk import insert_sql
from ccp.events.models import Event
from routing import services, sql
from routing.choices import HOLDING_STATUSES, PresenceStatus
from routing.engines.snapshots import orm_candidate_rows
from routing.models import AgentPresence, AgentWork, Queue, WorkItem
from routing.services.events import work_data
from tenants.choices import Role
from tests.factories import MembershipFactory, TenantFactory

from .test_engine import agent, hold, item


def _rows(tenant, queue=None) -> list[dict]:
    rows = sql.candidate_rows(
        tenant_id=tenant.pk,
        roles=[Role.AGENT, Role.SUPERVISOR],
        online=PresenceStatus.ONLINE,
        holding=HOLDING_STATUSES,
        queue_id=queue.pk if queue is not None else None,
    )
    return sorted(rows, key=lambda r: str(r["membership_id"]))


def _orm_rows(tenant, queue=None) -> list[dict]:
    return sorted(orm_candidate_rows(tenant_id=tenant.pk, queue=queue), key=lambda r: str(r["membership_id"]))


def test_the_candidate_rows_are_what_the_three_orm_queries_read(tenant):
    ann = agent(tenant, "Ann", capacity=3, skills={"billing": 4, "spanish": 2})
    bob = agent(tenant, "", capacity=2)  # no display name: the username names him
    away = agent(tenant, "Away", status="away")
    admin = MembershipFactory(tenant=tenant, role="admin", display_name="Admin")
    with transaction.atomic():
        services.capacity_set(membership=admin, capacity={"messaging": 2})
        services.presence_set(membership=admin, status="online")
    other_tenant = TenantFactory()
    agent(other_tenant, "Elsewhere")
    hold(tenant, ann, 2)  # accepted work uses capacity
    item(tenant, "offered-to-someone")  # and an offer does too
    AgentPresence.objects.filter(membership=bob).update(last_work_ended_at=timezone.now())

    rows = _rows(tenant)
    assert rows == _orm_rows(tenant)  # uuids, JSON, datetimes converted alike
    assert {r["membership_id"] for r in rows} == {ann.pk, bob.pk}  # not away, not an admin, not elsewhere
    by_id = {r["membership_id"]: r for r in rows}
    assert by_id[ann.pk]["skills"] == {"billing": 4, "spanish": 2}
    assert by_id[bob.pk]["skills"] == {}
    assert by_id[ann.pk]["used"]["messaging"] + by_id[bob.pk]["used"].get("messaging", 0) == 3
    assert by_id[bob.pk]["membership__user__username"] == bob.user.username
    assert by_id[ann.pk]["capacity"]["messaging"] == 3
    assert away.pk not in by_id


def test_a_queue_with_members_narrows_the_rows_and_one_without_does_not(tenant):
    ann = agent(tenant, "Ann")
    bob = agent(tenant, "Bob")
    listed = Queue.objects.create(tenant=tenant, name="listed")
    listed.members.add(bob)
    open_to_all = Queue.objects.create(tenant=tenant, name="everyone")
    assert [r["membership_id"] for r in _rows(tenant, listed)] == [bob.pk]
    assert _rows(tenant, listed) == _orm_rows(tenant, listed)
    assert {r["membership_id"] for r in _rows(tenant, open_to_all)} == {ann.pk, bob.pk}
    assert _rows(tenant, open_to_all) == _orm_rows(tenant, open_to_all)


def test_no_one_online_is_no_rows(tenant):
    agent(tenant, "Away", status="away")
    assert _rows(tenant) == _orm_rows(tenant) == []


def test_an_offer_writes_the_work_the_item_the_presence_and_its_event_in_one_statement(
    tenant, django_capture_on_commit_callbacks
):
    ann = agent(tenant, "Ann")
    work_item = WorkItem.objects.create(tenant=tenant, reference="one")
    assert AgentPresence.objects.get(membership=ann).last_offered_at is None
    with (
        django_capture_on_commit_callbacks(execute=True) as fan_out,
        transaction.atomic(),
        CaptureQueriesContext(connection) as captured,
    ):
        work = services.work_offer(work_item=work_item, agent_id=ann.pk)
    assert fan_out  # the written event is fanned out on commit
    # lock the item, lock the presence, its capacity, then the four writes in one statement
    statements = [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 4 and statements[3].startswith("WITH w AS (INSERT"), statements
    stored = AgentWork.objects.select_related("work_item").get(pk=work.pk)
    for field in AgentWork._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(work, field.attname), field.name
    assert WorkItem.objects.get(pk=work_item.pk).status == "offered"
    presence = AgentPresence.objects.get(membership=ann)
    assert presence.last_offered_at is not None and presence.last_offered_at <= stored.offered_at
    [event] = Event.objects.filter(type="work.offered")
    assert event.agent_ids == [str(ann.pk)]
    # what the row holds, to the microsecond
    assert event.data == json.loads(json.dumps(work_data(stored), cls=DjangoJSONEncoder))
    assert event.replay_id is not None  # numbered on commit, as event_publish's rows are


def test_a_second_active_work_for_an_item_fails_the_whole_statement(tenant):
    ann = agent(tenant, "Ann")
    bob = agent(tenant, "Bob")
    work_item = WorkItem.objects.create(tenant=tenant, reference="one")
    with transaction.atomic():
        services.work_offer(work_item=work_item, agent_id=ann.pk)
    presence = AgentPresence.objects.get(membership=bob)
    before = presence.last_offered_at, Event.objects.count()
    second = AgentWork(tenant_id=tenant.pk, work_item=work_item, agent=bob, expires_at=timezone.now())
    presence.last_offered_at = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        sql.offer_write(insert_sql(second), work_item, presence, [])
    assert (AgentPresence.objects.get(pk=presence.pk).last_offered_at, Event.objects.count()) == before
    assert AgentWork.objects.filter(work_item=work_item).count() == 1
    assert connection.vendor == "postgresql"


def test_an_accept_writes_the_work_the_item_the_counter_and_its_event_in_one_statement(
    tenant, django_capture_on_commit_callbacks
):
    ann = agent(tenant, "Ann")
    work_item = WorkItem.objects.create(tenant=tenant, reference="one")
    with transaction.atomic():
        work = services.work_offer(work_item=work_item, agent_id=ann.pk)
    AgentPresence.objects.filter(membership=ann).update(ignored_offers=2)  # offers she let expire before
    with (
        django_capture_on_commit_callbacks(execute=True) as fan_out,
        transaction.atomic(),
        CaptureQueriesContext(connection) as captured,
    ):
        accepted = services.work_accept(work=work)
    assert fan_out
    statements = [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2 and statements[1].startswith("WITH w AS (UPDATE"), statements  # lock, writes
    stored = AgentWork.objects.select_related("work_item").get(pk=work.pk)
    assert (stored.status, stored.answered_at) == ("accepted", accepted.answered_at)
    assert stored.work_item.status == "assigned"
    assert AgentPresence.objects.get(membership=ann).ignored_offers == 0
    [event] = Event.objects.filter(type="work.accepted")
    assert event.agent_ids == [str(ann.pk)] and event.replay_id is not None
    assert event.data == json.loads(json.dumps(work_data(stored), cls=DjangoJSONEncoder))

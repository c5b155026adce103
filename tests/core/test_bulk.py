"""ccp.core.bulk: one JSON parameter stores exactly what Django's bulk_create / bulk_update store."""

from datetime import timedelta

from django.forms.models import model_to_dict
from django.utils import timezone

from ccp.core.bulk import bulk_insert, bulk_update
from ccp.events.models import Event
from routing.models import AgentPresence, AgentWork, WorkItem
from tests.factories import MembershipFactory


def _stored(model, objs, exclude=("id",)):
    rows = {o.pk: o for o in model.objects.filter(pk__in=[o.pk for o in objs])}
    return [{k: v for k, v in model_to_dict(rows[o.pk]).items() if k not in exclude} for o in objs]


def test_bulk_insert_stores_what_bulk_create_stores_and_sets_generated_keys(tenant, partner):
    agent = MembershipFactory(tenant=tenant, role="agent")
    at = timezone.now().replace(microsecond=123456)

    def events():
        return [
            Event(
                tenant=tenant,
                partner=partner if i % 2 else None,
                type="work.offered",
                data={"n": i, "text": 'quote " backslash \\ é', "none": None, "list": [1, 2.5, True]},
                agent_ids=[str(agent.pk)],
                occurred_at=at + timedelta(seconds=i),
            )
            for i in range(5)
        ]

    ours, django = events(), events()
    bulk_insert(Event, ours)
    Event.objects.bulk_create(django)
    assert all(e.pk for e in ours) and [e.pk for e in ours] == sorted(e.pk for e in ours)
    assert _stored(Event, ours) == _stored(Event, django)
    assert Event.objects.get(pk=ours[3].pk).occurred_at == at + timedelta(seconds=3)  # microseconds kept


def test_bulk_insert_applies_defaults_auto_now_add_and_related_objects(tenant):
    agent = MembershipFactory(tenant=tenant, role="agent")
    items = WorkItem.objects.bulk_create([WorkItem(tenant=tenant, reference=f"r{i}") for i in range(4)])
    expires = timezone.now() + timedelta(seconds=30)

    def works(chunk):
        return [
            AgentWork(tenant=tenant, work_item=item, agent=agent, engine="platform", expires_at=expires)
            for item in chunk
        ]

    before = timezone.now()
    ours, django = works(items[:2]), works(items[2:])
    bulk_insert(AgentWork, ours)
    AgentWork.objects.bulk_create(django)
    for work in ours:
        stored = AgentWork.objects.get(pk=work.pk)
        assert stored.offered_at == work.offered_at and stored.offered_at >= before
        assert stored.status == "offered" and stored.weight == 1 and stored.work_item_id == work.work_item_id
        assert not work._state.adding
    exclude = ("id", "work_item", "offered_at")
    assert _stored(AgentWork, ours, exclude) == _stored(AgentWork, django, exclude)


def test_bulk_update_sets_each_row_its_own_value(tenant):
    members = [MembershipFactory(tenant=tenant, role="agent") for _ in range(3)]
    presences = AgentPresence.objects.bulk_create([AgentPresence(membership=m, tenant=tenant) for m in members])
    at = timezone.now().replace(microsecond=654321)
    for i, presence in enumerate(presences):
        presence.last_offered_at = at + timedelta(microseconds=i)
    assert bulk_update(AgentPresence, presences[:2], ["last_offered_at"]) == 2
    stored = {p.pk: p.last_offered_at for p in AgentPresence.objects.all()}
    assert stored == {presences[0].pk: at, presences[1].pk: at + timedelta(microseconds=1), presences[2].pk: None}

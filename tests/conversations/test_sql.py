"""The hot paths' composed statements (conversations/sql.py, consent/sql.py, ccp.core.bulk.insert_sql)
write exactly what the ORM calls they stand for would, and nothing when the message loses its unique
index. On PostgreSQL; the embedded stack (SQLite) keeps the ORM path and is run by tests/test_embedded.py."""

import uuid

import psycopg
import pytest
from django.db import connection, transaction

from ccp.core.bulk import insert_sql
from ccp.events.models import Event
from ccp.events.services import event_publish, events_deferred, events_written
from consent import sql as consent_sql
from consent.models import ConsentRecord
from conversations import services, sql
from conversations.choices import OPEN_STATUSES, ConversationStatus
from conversations.models import Contact, Conversation, Message, Participant, Session
from conversations.services.lifecycle import conversation_lock, message_append_publish, system_message
from routing.models import AgentWork
from tests.factories import TenantFactory

from .conftest import events, message, online, post


def _held_conversation(api, alice) -> Conversation:
    online(alice)
    assert post(api, message("first", "e0")).status_code == 201
    with transaction.atomic():
        services.agent_work_accept(agent=alice, work=AgentWork.objects.get(agent=alice))
    return Conversation.objects.get()


def test_an_inbound_message_is_stored_with_its_counters_and_event(
    api, channel, alice, django_capture_on_commit_callbacks
):
    conversation = _held_conversation(api, alice)
    before = conversation.last_seq
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, message("second", "e1"))
    assert response.status_code == 201, response.content
    stored = Message.objects.get(partner_entry_id="e1")
    conversation.refresh_from_db()
    assert conversation.last_seq == before + 1 == stored.seq
    assert conversation.last_message_at >= stored.created_at
    assert response.json()["entries"] == [{"id": "e1", "message_id": str(stored.id), "duplicate": False}]
    [created] = [e for e in events("message.created") if e.data["id"] == str(stored.id)]
    # the payload carries what was stored, to the microsecond, and goes to the holding agent
    assert created.data["seq"] == stored.seq
    assert created.data["created_at"].startswith(stored.created_at.isoformat()[:23])
    assert created.agent_ids == [str(alice.pk)]
    assert created.partner_id == channel.installation.package.partner_id
    assert created.replay_id is not None  # numbered on commit, as event_publish's rows are


def test_a_repeated_entry_is_a_duplicate_and_writes_nothing(api, channel, alice):
    conversation = _held_conversation(api, alice)
    assert post(api, message("second", "e1")).status_code == 201
    counts = Message.objects.count(), Event.objects.count()
    seq = Conversation.objects.get().last_seq
    again = post(api, message("second", "e1"), message("third", "e2"))
    assert again.status_code == 201
    first, second = again.json()["entries"]
    assert first == {"id": "e1", "message_id": str(Message.objects.get(partner_entry_id="e1").id), "duplicate": True}
    assert second["duplicate"] is False
    assert (Message.objects.count(), Conversation.objects.get(pk=conversation.pk).last_seq) == (counts[0] + 1, seq + 1)


def test_a_message_that_loses_its_unique_index_writes_nothing(api, channel, alice):
    """What a concurrent request with the same partner entry sees: the statement inserts no message,
    no event and does not move the conversation's counters."""
    conversation = _held_conversation(api, alice)
    stored = Message.objects.get(partner_entry_id="e0")
    event_count = Event.objects.count()
    with transaction.atomic():
        locked = conversation_lock(conversation)
        seq, last = locked.last_seq, locked.last_message_at
        result = message_append_publish(
            locked,
            agents=[alice.pk],
            direction="inbound",
            sender_type="end_user",
            text="the same entry again",
            partner_entry_id="e0",
        )
        assert result is None
        assert (locked.last_seq, locked.last_message_at) == (seq, last)  # as it was
    conversation.refresh_from_db()
    assert conversation.last_seq == seq
    assert Message.objects.filter(partner_entry_id="e0").get() == stored
    assert Event.objects.count() == event_count


def test_inbound_context_reads_session_holders_and_stored_entries(api, channel, alice, bob):
    conversation = _held_conversation(api, alice)
    with transaction.atomic():
        Participant.objects.create(tenant_id=conversation.tenant_id, conversation=conversation, agent=bob)
        session, agents, stored = sql.inbound_context(conversation, ["e0", "nope"])
    assert session == conversation.sessions.get(is_open=True)
    assert session.flow_state == conversation.sessions.get(is_open=True).flow_state  # JSON decoded
    assert agents == [alice.pk, bob.pk]  # by joining order
    assert stored == {"e0": str(Message.objects.get(partner_entry_id="e0").id)}
    assert sql.participant_agent_ids(conversation.pk) == agents


def _locked_elsewhere(conversation) -> bool:
    """Whether another connection finds the conversation's row locked."""
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]) as other:
        try:
            other.execute(
                f"SELECT 1 FROM {Conversation._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT", [conversation.pk]
            )
        except psycopg.errors.LockNotAvailable:
            return True
    return False


@pytest.mark.django_db(transaction=True)
def test_the_open_conversation_lock_reads_what_the_orm_does_and_locks_the_row(
    api, channel, alice, django_assert_num_queries
):
    conversation = _held_conversation(api, alice)
    address, thread = conversation.end_user_address, conversation.thread_key
    with transaction.atomic():
        found = sql.open_conversation_lock(channel.pk, address, thread, OPEN_STATUSES)
        expected = Conversation.objects.select_related("contact").get(pk=conversation.pk)
        assert found is not None and not found._state.adding
        for model, one, other in ((Conversation, found, expected), (Contact, found.contact, expected.contact)):
            for field in model._meta.concrete_fields:  # the converted values: uuids, datetimes, JSON
                assert getattr(one, field.attname) == getattr(other, field.attname), field.name
        with django_assert_num_queries(0):
            assert found.contact.pk == conversation.contact_id  # joined, not read again
        assert _locked_elsewhere(conversation)  # until this transaction ends
        assert sql.open_conversation_lock(channel.pk, address, "another thread", OPEN_STATUSES) is None
        assert sql.open_conversation_lock(channel.pk, "someone else", thread, OPEN_STATUSES) is None
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.CLOSED)
    with transaction.atomic():
        assert sql.open_conversation_lock(channel.pk, address, thread, OPEN_STATUSES) is None


@pytest.mark.django_db(transaction=True)
def test_the_conversation_lock_by_id_reads_every_field_and_locks_the_row(api, channel, alice, tenant):
    conversation = _held_conversation(api, alice)
    assert not _locked_elsewhere(conversation)
    with transaction.atomic():
        found = sql.conversation_lock_row(conversation.pk)
        expected = Conversation.objects.get(pk=conversation.pk)
        for field in Conversation._meta.concrete_fields:
            assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
        assert _locked_elsewhere(conversation)
        assert sql.conversation_lock_row(uuid.uuid4()) is None
    # the tenant's read: id and tenant only, the rest deferred (and loaded on access), another tenant's: None
    only = sql.conversation_id_of_tenant(conversation.pk, tenant.pk)
    assert only.pk == conversation.pk and only.tenant_id == tenant.pk
    assert only.get_deferred_fields() == {f.attname for f in Conversation._meta.concrete_fields} - {"id", "tenant_id"}
    assert only.status == expected.status
    other = TenantFactory()
    assert sql.conversation_id_of_tenant(conversation.pk, other.pk) is None


@pytest.mark.django_db(transaction=True)
def test_the_session_and_its_conversation_are_read_in_one_statement_that_locks_the_conversation(
    api, channel, alice, django_assert_num_queries
):
    conversation = _held_conversation(api, alice)
    session = conversation.sessions.get()
    with transaction.atomic():
        with django_assert_num_queries(1):
            found_session, found = sql.session_conversation_lock(session.pk)
            assert found.contact.pk == conversation.contact_id and found_session.conversation is found
        expected = Conversation.objects.select_related("contact").get(pk=conversation.pk)
        pairs = [(Session, found_session, session), (Conversation, found, expected)]
        pairs.append((Contact, found.contact, expected.contact))
        for model, one, other in pairs:  # the converted values: uuids, datetimes, JSON
            for field in model._meta.concrete_fields:
                assert getattr(one, field.attname) == getattr(other, field.attname), (model, field.name)
        assert _locked_elsewhere(conversation)
        assert sql.session_conversation_lock(uuid.uuid4()) is None
    assert not _locked_elsewhere(conversation)


def test_an_agent_reply_is_one_statement_with_both_events(api, channel, alice):
    conversation = _held_conversation(api, alice)
    with transaction.atomic():
        sent = services.message_send(agent=alice, conversation=conversation, text="On its way.")
    stored = Message.objects.get(pk=sent.pk)
    assert (stored.direction, stored.text, stored.agent_id, stored.status) == (
        "outbound",
        "On its way.",
        alice.pk,
        "sent",
    )
    assert Conversation.objects.get().last_seq == stored.seq
    created = [e for e in events("message.created") if e.data["id"] == str(stored.id)]
    assert len(created) == 1 and created[0].partner_id is None  # agents only: the partner gets its own type
    assert created[0].agent_ids == [str(alice.pk)]


def test_insert_sql_writes_what_save_would_and_only_if_can_skip_it(tenant):
    event = Event(tenant=tenant, type="message.created", data={"a": [1, "é"]}, agent_ids=[], occurred_at=None)
    from django.utils import timezone

    event.occurred_at = timezone.now()
    statement, params = insert_sql(event, returning="id")
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        pk = cursor.fetchone()[0]
    row = Event.objects.get(pk=pk)
    assert (row.tenant_id, row.type, row.data, row.agent_ids, row.occurred_at) == (
        tenant.pk,
        "message.created",
        {"a": [1, "é"]},
        [],
        event.occurred_at,
    )
    skipped, params = insert_sql(Event(tenant=tenant, type="x", occurred_at=timezone.now()), only_if="FALSE")
    with connection.cursor() as cursor:
        cursor.execute(skipped, params)
        assert cursor.rowcount == 0


def test_deferred_events_are_fanned_out_only_once_written(tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with events_deferred() as built:
            event = event_publish(tenant=tenant, type="Probe__e", data={"n": 1}, schema={"n": {"type": "integer"}})
        assert built == [event] and event.pk is None and not Event.objects.exists()
        statement, params = insert_sql(event, returning="id")
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            pk = cursor.fetchone()[0]
        events_written(built, [pk])
    assert Event.objects.get(pk=pk).replay_id is not None  # the on-commit numbering ran


def test_the_consent_lock_reads_the_erased_opt_out_in_the_same_query(channel):
    ConsentRecord.objects.create(tenant_id=channel.tenant_id, channel=channel, address="+1", owner="platform")
    ConsentRecord.objects.create(
        tenant_id=channel.tenant_id, channel=channel, address="sha256:abc", owner="platform", status="opt_out"
    )
    with transaction.atomic():
        found = consent_sql.record_lock_with_erased(channel_id=channel.pk, address="+1", hashed="sha256:abc")
        assert (found.address, found.erased_opt_out_found) == ("+1", True)
        other = consent_sql.record_lock_with_erased(channel_id=channel.pk, address="+1", hashed="sha256:def")
        assert other.erased_opt_out_found is False
        assert consent_sql.record_lock_with_erased(channel_id=channel.pk, address="+2", hashed="sha256:abc") is None


def test_the_detail_reads_sessions_participants_and_work_as_the_orm_does(api, channel, alice, bob, tenant):
    from conversations.selectors import _detail_parts_orm, _detail_parts_sql

    conversation = _held_conversation(api, alice)
    online(bob)
    with transaction.atomic():
        services.conversation_transfer(agent=alice, conversation=conversation, to_agent_id=str(bob.pk))
        services.agent_work_accept(agent=bob, work=AgentWork.objects.get(agent=bob, status="offered"))
    bob.display_name = ""  # named by the user's full name, then the username
    bob.save(update_fields=["display_name"])
    bob.user.first_name, bob.user.last_name = "Robert", "Jones"
    bob.user.save(update_fields=["first_name", "last_name"])
    conversation.refresh_from_db()
    sessions, participants, works = _detail_parts_sql(conversation)
    assert (sessions, participants, works) == _detail_parts_orm(conversation)  # values and order alike
    assert [p["name"] for p in participants] == ["Alice", "Robert Jones"]
    assert participants[0]["leave_reason"] == "transferred" and participants[0]["left_at"] is not None
    assert [w["is_transfer"] for w in works] == [False, True]
    assert sessions == [str(conversation.sessions.get().pk)]


def test_a_system_message_writes_its_counters_the_changed_status_and_its_event_in_one_statement(
    api, channel, alice, django_assert_num_queries
):
    online(alice)
    assert post(api, message("first", "e0")).status_code == 201
    conversation = Conversation.objects.get()
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        before = conversation.last_seq
        conversation.status = ConversationStatus.ACTIVE
        with django_assert_num_queries(1):
            stored = system_message(conversation, "Alice joined.", [alice.pk], also_save=("status",))
    row = Conversation.objects.get(pk=conversation.pk)
    assert (row.status, row.last_seq) == (ConversationStatus.ACTIVE, before + 1)
    assert Message.objects.get(pk=stored.pk).seq == before + 1
    [created] = [e for e in events("message.created") if e.data["id"] == str(stored.id)]
    assert created.partner_id is None and created.agent_ids == [str(alice.pk)]  # to the agents only
    assert created.data["conversation"]["status"] == ConversationStatus.ACTIVE

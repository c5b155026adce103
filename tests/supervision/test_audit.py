"""The audit log: append-only in the database itself, written for admin changes, role changes,
package and partner configuration changes, agents' consent changes and erase requests; readable by
the tenant's admins in the admin (their tenant only) and exportable as CSV."""

import csv
import io

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client

from ccp.audit.models import AppendOnly, AuditEntry
from ccp.audit.services import audit_record
from ccp.events import services as event_services
from ccp.packages import services as package_services
from tenants import services as tenant_services
from tests.consent.conftest import install as consent_install
from tests.factories import MembershipFactory

from .conftest import session


def _entry(tenant):
    return audit_record(action="test.action", tenant=tenant, object_type="x", object_id="1", after={"a": 1})


@pytest.mark.django_db
def test_the_database_refuses_updates_and_deletes(tenant):
    entry = _entry(tenant)
    for sql in (
        "UPDATE audit_auditentry SET action = 'forged' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.action"


def test_the_sqlite_triggers_refuse_too():
    """The same guarantee on the embedded default: the migration's SQLite triggers on a real SQLite."""
    import importlib
    import sqlite3

    migration = importlib.import_module("ccp.audit.migrations.0002_audit_append_only")
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE audit_auditentry (id INTEGER PRIMARY KEY, action TEXT)")
    for statement in migration.SQLITE_CREATE:
        db.execute(statement)
    db.execute("INSERT INTO audit_auditentry (action) VALUES ('kept')")
    for sql in ("UPDATE audit_auditentry SET action = 'forged'", "DELETE FROM audit_auditentry"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(sql)
    assert db.execute("SELECT action FROM audit_auditentry").fetchall() == [("kept",)]


@pytest.mark.django_db
def test_role_changes_and_configuration_changes_are_recorded(tenant, partner, connected_app):
    member = MembershipFactory(tenant=tenant, role="agent")
    tenant_services.membership_set_role(membership=member, role="supervisor")
    entry = AuditEntry.objects.get(action="membership.role_changed")
    assert (entry.before, entry.after, entry.tenant_id) == ({"role": "agent"}, {"role": "supervisor"}, tenant.pk)
    package_services.connected_app_set_scopes(connected_app=connected_app, scopes=["events"])
    assert AuditEntry.objects.get(action="connected_app.scopes_changed").after == {"scopes": ["events"]}
    subscription, _ = event_services.subscription_create(
        partner=partner, url="https://example.com/hooks", event_types=["*"]
    )
    event_services.subscription_delete(subscription=subscription)
    assert {"subscription.created", "subscription.deleted"} <= set(AuditEntry.objects.values_list("action", flat=True))


@pytest.mark.django_db
def test_package_install_upgrade_uninstall_consent_by_agent_and_erase_are_recorded(floor, tenant):
    assert AuditEntry.objects.filter(action="package.installed", tenant_id=tenant.pk).exists()
    platform_owned = consent_install(tenant, floor.channel.installation.package.partner, address="+15550077")
    consent = session(floor.alice).put(
        "/api/v1/agent/consent/",
        {"to": platform_owned.channel_address_id, "address": "+4915112345", "status": "opt_out"},
        format="json",
    )
    assert consent.status_code == 200, consent.content
    entry = AuditEntry.objects.get(action="consent.changed_by_agent")
    assert entry.actor_id == str(floor.alice.user.pk) and entry.after["status"] == "opt_out"
    assert "+4915112345" not in entry.object_repr  # the address is hashed: the log outlives erasure
    from conversations.privacy import contact_erase

    contact_erase(tenant=tenant, address="+4915112345")
    erased = AuditEntry.objects.get(action="contact.erased")
    assert erased.after["contacts"] == 1 and "+4915112345" not in str(erased.object_repr)
    installation = floor.channel.installation
    tenant_services.installation_uninstall(installation=installation, force=True)
    assert AuditEntry.objects.filter(action="package.uninstalled", tenant_id=tenant.pk).exists()


@pytest.mark.django_db
def test_admin_changes_are_recorded_and_tenant_admins_read_and_export_their_own(tenant, other_tenant):
    admin_user = MembershipFactory(tenant=tenant, role="admin").user
    admin_user.is_staff = True
    admin_user.save()
    other = MembershipFactory(tenant=other_tenant, role="agent")
    _entry(other_tenant)
    client = Client()
    client.force_login(admin_user)
    agent = MembershipFactory(tenant=tenant, role="agent", display_name="Before")
    response = client.post(f"/admin/tenants/membership/{agent.pk}/change/", {"role": "agent", "display_name": "After"})
    assert response.status_code == 302, response.content[:2000]
    change = AuditEntry.objects.get(action="admin.change")
    assert change.tenant_id == tenant.pk and change.object_id == str(agent.pk)
    assert change.source_ip == "127.0.0.1" and change.actor_id == str(admin_user.pk)

    listing = client.get("/admin/audit/auditentry/?action=admin.change")
    assert listing.status_code == 200 and b"admin.change" in listing.content
    exported = client.get("/admin/audit/auditentry/?format=csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert rows and {r["tenant_slug"] for r in rows} == {tenant.slug}
    assert "admin.change" in {r["action"] for r in rows}
    selected = client.post(
        "/admin/audit/auditentry/",
        {"action": "export_csv", "_selected_action": [str(change.pk)]},
    )
    assert selected.status_code == 200 and len(list(csv.DictReader(io.StringIO(selected.content.decode())))) == 1
    # read-only even for them, and another tenant's entries stay hidden
    assert client.get(
        f"/admin/audit/auditentry/{AuditEntry.objects.filter(tenant_id=other_tenant.pk).first().pk}/change/"
    ).status_code in (302, 403, 404)
    assert other.pk


@pytest.mark.django_db
def test_a_tenant_admin_manages_canned_responses_in_the_admin_and_it_is_recorded(tenant):
    from conversations.models import CannedResponse

    admin_user = MembershipFactory(tenant=tenant, role="admin").user
    admin_user.is_staff = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/conversations/cannedresponse/add/", {"shortcut": "hours", "title": "", "text": "We open at 9."}
    )
    assert response.status_code == 302, response.content[:3000]
    canned = CannedResponse.objects.get(shortcut="hours")
    assert canned.tenant == tenant and canned.owner is None
    added = AuditEntry.objects.get(action="admin.add", object_type="conversations.cannedresponse")
    assert added.before is None and added.after["text"] == "We open at 9."
    response = client.post(
        f"/admin/conversations/cannedresponse/{canned.pk}/change/",
        {"shortcut": "hours", "title": "", "text": "We open at 8."},
    )
    assert response.status_code == 302, response.content[:3000]
    changed = AuditEntry.objects.get(action="admin.change", object_type="conversations.cannedresponse")
    assert changed.before == {"text": "We open at 9."} and changed.after["text"] == "We open at 8."
    assert client.get("/admin/conversations/note/").status_code == 200

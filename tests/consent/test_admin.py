"""The admin: consent is read-only, tenant-scoped, and changed only through owner-checked actions."""

import pytest
from django.db import transaction

from consent import services
from consent.models import ConsentChange, ConsentRecord
from tests.factories import PASSWORD, MembershipFactory

from .conftest import USER, history, install

pytestmark = pytest.mark.django_db


def _record(channel, address=USER, status="opt_in"):
    with transaction.atomic():
        return services.consent_update(
            channel=channel,
            address=address,
            status=status,
            source="web_form",
            actor="t",
            as_owner=channel_owner(channel),
        )


def channel_owner(channel):
    return channel.installation.package.channel_definition.consent_owner


def test_tenant_admin_opts_out_through_an_action_and_cannot_edit_rows(client, tenant, platform_channel):
    record = _record(platform_channel)
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    assert client.login(username=admin_member.user.username, password=PASSWORD)
    listing = client.get("/admin/consent/consentrecord/")
    assert listing.status_code == 200 and USER in listing.content.decode()
    response = client.post(
        "/admin/consent/consentrecord/", {"action": "set_opt_out", "_selected_action": [record.pk]}, follow=True
    )
    assert response.status_code == 200
    record.refresh_from_db()
    assert record.status == "opt_out"
    assert history()[-1] == ("opt_in", "opt_out", False, "agent")
    assert ConsentChange.objects.last().actor == f"admin:{admin_member.user.pk}"
    change_url = f"/admin/consent/consentchange/{ConsentChange.objects.last().pk}/delete/"
    assert client.post(change_url, {"post": "yes"}).status_code == 403
    assert ConsentChange.objects.count() == 2
    client.post(f"/admin/consent/consentrecord/{record.pk}/change/", {"status": "opt_in"})
    record.refresh_from_db()
    assert record.status == "opt_out"


def test_admin_action_respects_the_partner_owner(client, tenant, partner):
    channel = install(tenant, partner, consent_owner="partner")
    record = _record(channel)
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    assert client.login(username=admin_member.user.username, password=PASSWORD)
    response = client.post(
        "/admin/consent/consentrecord/", {"action": "set_opt_out", "_selected_action": [record.pk]}, follow=True
    )
    assert "owns consent" in response.content.decode()
    assert ConsentRecord.objects.get().status == "opt_in"


def test_tenant_admin_sees_only_their_tenants_consent(client, tenant, other_tenant, partner):
    channel = install(tenant, partner)
    _record(channel, address="+1-own")
    admin_member = MembershipFactory(tenant=other_tenant, role="admin")
    assert client.login(username=admin_member.user.username, password=PASSWORD)
    assert "+1-own" not in client.get("/admin/consent/consentrecord/").content.decode()
    assert "+1-own" not in client.get("/admin/consent/consentchange/").content.decode()

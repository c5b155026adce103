"""Fixtures for consent: a package whose channel definition names the consent owner, agents, clients."""

import pytest
from rest_framework.test import APIClient

from ccp.events.models import Event
from ccp.packages import services as package_services
from consent.models import ConsentChange
from conversations.models import Message
from tenants import services as tenant_services
from tests.conversations.conftest import online
from tests.factories import MembershipFactory, make_manifest

CHANNEL = "+15550001"
USER = "+4915112345"


def install(tenant, partner, *, consent_owner="platform", consent_defaults=None, settings=None, address=CHANNEL):
    manifest = make_manifest(developer_name=f"pkg_{consent_owner}")
    manifest["channel_definition"]["consent_owner"] = consent_owner
    if consent_defaults is not None:
        manifest["channel_definition"]["consent_defaults"] = consent_defaults
    package = package_services.package_create(partner=partner, manifest=manifest)
    package_services.package_publish(package=package)
    installation = tenant_services.package_install(
        tenant=tenant,
        developer_name=f"pkg_{consent_owner}",
        partner_identifier=partner.partner_identifier,
        channels=[tenant_services.ChannelSpec(channel_key=f"ch-{consent_owner}", channel_address_id=address)],
        contact_center_name=f"Center {consent_owner}",
    )
    channel = installation.channels.get()
    if settings is not None:
        channel.settings = settings
        channel.save()
    return channel


@pytest.fixture
def platform_channel(tenant, partner):
    return install(tenant, partner, consent_owner="platform")


@pytest.fixture
def partner_channel(tenant, partner):
    return install(tenant, partner, consent_owner="partner")


@pytest.fixture
def alice(tenant):
    return online(MembershipFactory(tenant=tenant, role="agent", display_name="Alice"))


def agent_client(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


def say(api, text, entry_id, *, to=CHANNEL, sender=USER):
    response = api.post(
        "/api/v1/interactions/",
        {"to": to, "from": sender, "from_name": "Ann", "entries": [{"id": entry_id, "type": "message", "text": text}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def outbound_texts(address=USER) -> list[str]:
    """What actually went out to the end user (stored outbound messages), oldest first."""
    return list(
        Message.objects.filter(direction="outbound", conversation__end_user_address=address)
        .order_by("created_at", "seq")
        .values_list("text", flat=True)
    )


def partner_outbound_events() -> list[Event]:
    """Outbound messages published to the partner (the package's custom outbound type)."""
    return list(Event.objects.filter(type="AcmeOutbound__e").order_by("pk"))


def history(address=USER) -> list[tuple]:
    return list(
        ConsentChange.objects.filter(address=address)
        .order_by("created_at", "id")
        .values_list("old_status", "new_status", "pending_opt_in", "source")
    )

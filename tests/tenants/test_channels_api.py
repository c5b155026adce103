"""GET /api/v1/channels/: a partner sees the channels of its own installations, and nothing else."""

from tenants import services
from tenants.services import ChannelSpec
from tests.factories import published_package
from tests.helpers import assert_partner_guarded


def test_partner_sees_only_channels_of_its_installations(api, other_api, tenant, other_tenant, partner, other_partner):
    published_package(partner)
    published_package(other_partner, developer_name="rival_sms")
    services.package_install(
        tenant=tenant,
        developer_name="acme_whatsapp",
        partner_identifier="acme-comms",
        channels=[ChannelSpec(channel_key="wa", channel_address_id="+1555")],
    )
    services.package_install(
        tenant=other_tenant,
        developer_name="acme_whatsapp",
        partner_identifier="acme-comms",
        channels=[ChannelSpec(channel_key="wa", channel_address_id="+1666")],
    )
    services.package_install(
        tenant=tenant,
        developer_name="rival_sms",
        partner_identifier="rival-comms",
        channels=[ChannelSpec(channel_key="sms", channel_address_id="+1777")],
    )
    mine = api.get("/api/v1/channels/").json()
    assert [(c["tenant"], c["channel_address_id"]) for c in mine] == [("acme", "+1555"), ("globex", "+1666")]
    assert mine[0]["authorization_link"] == "acme-comms:acme_whatsapp:acme"
    assert mine[0]["type"] == "messaging" and mine[0]["package_version"] == "1.0.0"
    theirs = other_api.get("/api/v1/channels/").json()
    assert [c["channel_address_id"] for c in theirs] == ["+1777"]


def test_channels_negative_suite(connected_app):
    assert_partner_guarded("GET", "/api/v1/channels/", scope="interactions", owner_app=connected_app)

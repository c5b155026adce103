"""Helpers of the voice call tests: a call center installed for the partner, calls and events."""

from ccp.packages import services as package_services
from tenants import services as tenant_services
from tests.factories import make_manifest

CALL_CENTER = "+15550100"


def install_call_center(tenant, partner, *, address=CALL_CENTER, developer_name="acme_voice", consent_owner="platform"):
    manifest = make_manifest(developer_name=developer_name, name="Acme Voice", event_types=[], custom_objects=[])
    manifest["channel_definition"]["channel_types"] = ["voice"]
    manifest["channel_definition"]["consent_owner"] = consent_owner
    package = package_services.package_create(partner=partner, manifest=manifest)
    package_services.package_publish(package=package)
    installation = tenant_services.package_install(
        tenant=tenant,
        developer_name=developer_name,
        partner_identifier=partner.partner_identifier,
        contact_center_name=f"{partner.name} call center",
        channels=[tenant_services.ChannelSpec(channel_key="cc", channel_address_id=address, channel_type="voice")],
    )
    return installation.channels.get()


def new_call(api, call_id="c1", *, to=CALL_CENTER, caller="+4915100001", name="Ann", **extra):
    return api.post(
        "/api/v1/calls/", {"to": to, "from": caller, "from_name": name, "call_id": call_id, **extra}, format="json"
    )


def call_event(api, call_id, event_id, type_, **extra):
    return api.post(f"/api/v1/calls/{call_id}/events/", {"id": event_id, "type": type_, **extra}, format="json")

"""The SDK against the real platform: pytest-django's live_server (real HTTP, real PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
from oauth2_provider.models import AccessToken

from ccp_partner import AuthenticationError, Conflict, NotFound, PermissionDenied, ValidationError
from tenants import services as tenant_services
from tenants.services import ChannelSpec
from tests.factories import make_manifest, published_package

from .servers import start_lossy_proxy


def _tokens(app) -> int:
    return AccessToken.objects.filter(application=app.application).count()


def test_token_is_fetched_once_and_reused(live_client, live_app):
    app, _ = live_app
    for _ in range(3):
        me = live_client.partner()
    assert me["partner_identifier"] == "acme-comms"
    assert set(me["scopes"]) == {"packages", "interactions", "routing", "consent", "events"}
    assert _tokens(app) == 1


def test_token_is_renewed_before_it_expires(make_client, live_app):
    app, secret = live_app
    now = [1000.0]
    ccp = make_client(app.application.client_id, secret, clock=lambda: now[0])
    ccp.partner()
    now[0] += 3600 - 59  # inside the 60 s refresh margin of a one-hour token
    ccp.partner()
    assert _tokens(app) == 2


def test_a_revoked_token_is_replaced_once_on_401(live_client, live_app):
    app, _ = live_app
    live_client.partner()
    AccessToken.objects.filter(application=app.application).delete()
    assert live_client.partner()["partner_identifier"] == "acme-comms"
    assert _tokens(app) == 1


def test_a_wrong_secret_raises_authentication_error(make_client, live_app):
    app, _ = live_app
    with pytest.raises(AuthenticationError) as caught:
        make_client(app.application.client_id, "wrong-secret").partner()
    assert caught.value.status == 401 and caught.value.code == "invalid_client"


def test_requested_scopes_limit_the_token(make_client, live_app):
    app, secret = live_app
    ccp = make_client(app.application.client_id, secret, scopes=["packages"])
    assert ccp.partner()["scopes"] == ["packages"]
    with pytest.raises(PermissionDenied) as caught:
        ccp.channels()
    assert caught.value.status == 403 and caught.value.code == "insufficient_scope"


def test_package_create_edit_publish_list_delete(live_client):
    draft = live_client.create_package(make_manifest())
    assert draft["status"] == "draft" and draft["developer_name"] == "acme_whatsapp"
    edited = live_client.update_package(draft["id"], {"description": "Now with templates"})
    assert edited["description"] == "Now with templates"
    published = live_client.publish_package(draft["id"])
    assert published["status"] == "published" and published["published_at"]
    assert live_client.get_package(draft["id"])["status"] == "published"

    newer = live_client.create_package(make_manifest(version="1.1.0"))
    assert {p["version"] for p in live_client.list_packages()} == {"1.0.0", "1.1.0"}
    assert live_client.delete_package(newer["id"]) is None
    with pytest.raises(NotFound):
        live_client.get_package(newer["id"])
    assert [p["id"] for p in live_client.list_packages()] == [draft["id"]]


def test_the_same_idempotency_key_returns_the_first_package(live_client):
    key = str(uuid.uuid4())
    first = live_client.create_package(make_manifest(), idempotency_key=key)
    again = live_client.create_package(make_manifest(), idempotency_key=key)
    assert again["id"] == first["id"]
    assert len(live_client.list_packages()) == 1
    with pytest.raises(Conflict) as caught:
        live_client.create_package(make_manifest(version="2.0.0"), idempotency_key=key)
    assert caught.value.code == "idempotency_key_reused"


def test_a_post_whose_answer_was_lost_is_retried_with_its_key_and_applied_once(
    live_server, make_client, live_app, sleeps
):
    """The platform creates the package, the answer is lost (502 from a proxy), the SDK retries with
    the same Idempotency-Key and the platform replays the first answer instead of acting twice."""
    app, secret = live_app
    proxy, url, seen = start_lossy_proxy(
        live_server.url, lose=lambda method, path, n: method == "POST" and path == "/api/v1/packages/" and n == 1
    )
    try:
        ccp = make_client(app.application.client_id, secret, base_url=url)
        package = ccp.create_package(make_manifest())
        posts = [r for r in seen if r.method == "POST" and r.path == "/api/v1/packages/"]
        assert len(posts) == 2
        assert posts[0].header("Idempotency-Key") == posts[1].header("Idempotency-Key")
        assert [p["id"] for p in ccp.list_packages()] == [package["id"]]
        assert len(sleeps) == 1
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_an_invalid_manifest_raises_validation_error_with_details(live_client):
    manifest = make_manifest()
    manifest["channel_definition"]["channel_types"] = ["fax"]
    del manifest["version"]
    with pytest.raises(ValidationError) as caught:
        live_client.create_package(manifest)
    error = caught.value
    assert error.status == 400 and error.code == "invalid_manifest"
    assert error.details and all(isinstance(v, list) for v in error.details.values())
    assert any("channel_types" in key for key in error.details)
    assert live_client.list_packages() == []


def test_unknown_and_other_partners_packages_are_not_found(live_client, other_partner):
    with pytest.raises(NotFound) as caught:
        live_client.get_package(str(uuid.uuid4()))
    assert caught.value.status == 404 and caught.value.code == "package_not_found"
    theirs = published_package(other_partner, developer_name="rival_sms")
    with pytest.raises(NotFound):
        live_client.publish_package(str(theirs.id))


def test_channels_lists_the_installations_channels(live_client, partner, tenant):
    published_package(partner)
    tenant_services.package_install(
        tenant=tenant,
        developer_name="acme_whatsapp",
        partner_identifier="acme-comms",
        channels=[ChannelSpec(channel_key="wa", channel_address_id="+1555")],
    )
    [channel] = live_client.channels()
    assert channel["channel_address_id"] == "+1555"
    assert channel["tenant"] == "acme" and channel["type"] == "messaging"
    assert channel["authorization_link"] == "acme-comms:acme_whatsapp:acme"

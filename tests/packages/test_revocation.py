"""Revocation reaches the tokens already issued: scope removal, secret rotation, deactivation."""

import base64
import hashlib

import pytest
import requests
from oauth2_provider.models import AccessToken

from ccp.packages import services
from tests.factories import UserFactory, connected_app_for
from tests.helpers import assert_error, partner_client, token_for
from tests.servers import daphne_server, wait_for


def _token_request(client, client_id, secret):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")


def _works(token) -> bool:
    return partner_client(token).get("/api/v1/partner/").status_code == 200


def test_removing_a_scope_revokes_the_tokens_that_carry_it_and_only_those(partner):
    app, _ = connected_app_for(partner, scopes=["interactions", "events"])
    with_events = token_for(app, ["interactions", "events"])
    without_events = token_for(app, ["interactions"])
    assert _works(with_events) and _works(without_events)

    services.connected_app_set_scopes(connected_app=app, scopes=["interactions"])

    assert_error(partner_client(with_events).get("/api/v1/partner/"), 401, "not_authenticated")
    assert not AccessToken.objects.filter(token_checksum=hashlib.sha256(with_events.encode()).hexdigest()).exists()
    assert _works(without_events)
    # adding a scope revokes nothing
    services.connected_app_set_scopes(connected_app=app, scopes=["interactions", "routing"])
    assert _works(without_events)


def test_rotating_the_secret_revokes_every_issued_token(client, partner):
    app, old_secret = connected_app_for(partner)
    issued = _token_request(client, app.application.client_id, old_secret).json()["access_token"]
    assert _works(issued)

    new_secret = services.connected_app_rotate_secret(connected_app=app)

    assert_error(partner_client(issued).get("/api/v1/partner/"), 401, "not_authenticated")
    assert _token_request(client, app.application.client_id, old_secret).status_code == 401
    fresh = _token_request(client, app.application.client_id, new_secret)
    assert fresh.status_code == 200 and _works(fresh.json()["access_token"])


def test_a_deactivated_app_loses_its_tokens_and_gets_no_new_one(client, partner):
    app, secret = connected_app_for(partner)
    issued = token_for(app)
    assert _works(issued)

    services.connected_app_set_active(connected_app=app, active=False)

    assert_error(partner_client(issued).get("/api/v1/partner/"), 401, "not_authenticated")
    refused = _token_request(client, app.application.client_id, secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"

    services.connected_app_set_active(connected_app=app, active=True)
    again = _token_request(client, app.application.client_id, secret)
    assert again.status_code == 200 and _works(again.json()["access_token"])
    assert not _works(issued)  # reactivating does not bring revoked tokens back


def test_the_operator_revokes_from_the_admin(client, partner):
    app, _ = connected_app_for(partner, scopes=["interactions", "events"])
    issued = token_for(app, ["interactions", "events"])
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    form = {"name": app.name, "scope_choices": ["interactions", "events"], "contact_center_scope": "on"}
    # unticking "is_active" (the form without it) deactivates the app and revokes its tokens
    response = client.post(f"/admin/packages/connectedapp/{app.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    app.refresh_from_db()
    assert not app.is_active
    assert not _works(issued)

    form["is_active"] = "on"
    client.post(f"/admin/packages/connectedapp/{app.pk}/change/", form)
    second = token_for(app, ["interactions", "events"])
    assert _works(second)
    form["scope_choices"] = ["interactions"]
    client.post(f"/admin/packages/connectedapp/{app.pk}/change/", form)
    assert not _works(second)


@pytest.mark.django_db(transaction=True)
def test_another_server_process_refuses_a_revoked_token_within_the_cache_time(partner):
    app, _ = connected_app_for(partner, scopes=["interactions"])
    token = token_for(app, ["interactions"])
    with daphne_server(HOT_LOOKUP_CACHE_SECONDS="2") as url:

        def status():
            return requests.get(f"{url}/api/v1/partner/", headers={"Authorization": f"Bearer {token}"}, timeout=10)

        assert status().status_code == 200  # now cached in the server process
        services.connected_app_set_scopes(connected_app=app, scopes=["routing"])
        wait_for(lambda: status().status_code == 401, timeout=4, interval=0.2, what="the server to refuse the token")

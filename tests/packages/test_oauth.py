"""Partners authenticate with OAuth2 client credentials; tokens carry only their app's scopes."""

import base64

import pytest

from tests.factories import connected_app_for
from tests.helpers import assert_error, assert_partner_guarded, partner_client


def _token_request(client, app_client_id, secret, **extra):
    basic = base64.b64encode(f"{app_client_id}:{secret}".encode()).decode()
    return client.post("/o/token/", {"grant_type": "client_credentials", **extra}, HTTP_AUTHORIZATION=f"Basic {basic}")


def test_client_credentials_token_identifies_the_partner(client, partner):
    app, secret = connected_app_for(partner, scopes=["interactions", "events"])
    response = _token_request(client, app.application.client_id, secret)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert set(body["scope"].split()) == {"interactions", "events"}

    me = partner_client(body["access_token"]).get("/api/v1/partner/")
    assert me.status_code == 200
    assert me.json()["partner_identifier"] == "acme-comms"
    assert set(me.json()["scopes"]) == {"interactions", "events"}


def test_secret_in_the_body_works_too(client, partner):
    app, secret = connected_app_for(partner, scopes=["packages"])
    response = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": app.application.client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.content


def test_a_scope_the_app_was_not_granted_is_refused(client, partner):
    app, secret = connected_app_for(partner, scopes=["interactions"])
    response = _token_request(client, app.application.client_id, secret, scope="interactions packages")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_wrong_secret_is_refused(client, partner):
    app, _ = connected_app_for(partner)
    response = _token_request(client, app.application.client_id, "wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_secret_is_stored_hashed(partner):
    app, secret = connected_app_for(partner)
    app.application.refresh_from_db()
    assert app.application.client_secret != secret
    assert app.application.client_secret.startswith(("pbkdf2", "md5", "argon2", "bcrypt"))


def test_partner_endpoint_negative_suite(connected_app):
    assert_partner_guarded("GET", "/api/v1/partner/", scope=None, owner_app=connected_app)


@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "Bearer  ", "Token xyz"])
def test_garbage_authorization_headers_are_401(db, header):
    client = partner_client(None)
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get("/api/v1/partner/"), 401, "not_authenticated")


def test_an_agent_session_is_not_a_partner(client, agent):
    client.force_login(agent.user)
    assert_error(client.get("/api/v1/partner/"), 401, "not_authenticated")


def test_an_application_belongs_to_exactly_one_partner(partner, other_partner):
    from django.db import IntegrityError, transaction

    from ccp.packages.models import ConnectedApp

    app, _ = connected_app_for(partner)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectedApp.objects.create(partner=other_partner, application=app.application, name="steal", scopes="")


def test_a_partner_over_its_rate_limit_gets_429_with_retry_after(api, other_api, settings):
    settings.PARTNER_RATE_LIMIT = "3/min"
    for _ in range(3):
        assert api.get("/api/v1/partner/").status_code == 200
    response = api.get("/api/v1/partner/")
    error = assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0 and error["details"]["retry_after"] > 0
    assert other_api.get("/api/v1/partner/").status_code == 200  # counted per partner


def test_a_revoked_token_is_refused_on_its_next_call(partner):
    from oauth2_provider.models import AccessToken

    from tests.helpers import token_for

    app, _ = connected_app_for(partner, scopes=["interactions"])
    token = token_for(app, ["interactions"])
    assert partner_client(token).get("/api/v1/partner/").status_code == 200
    AccessToken.objects.get(token=token).revoke()
    assert_error(partner_client(token).get("/api/v1/partner/"), 401, "not_authenticated")


def test_the_rate_limit_does_not_reset_at_the_window_boundary(api, settings):
    import time

    settings.PARTNER_RATE_LIMIT = "3/s"
    time.sleep(1 - time.time() % 1 + 0.05)  # just after a window starts
    for _ in range(3):
        assert api.get("/api/v1/partner/").status_code == 200
    time.sleep(1 - time.time() % 1 + 0.05)  # the next window: the last second still holds 3 requests
    assert_error(api.get("/api/v1/partner/"), 429, "rate_limited")


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_only_operators_register_oauth_applications(client, tenant, role):
    from oauth2_provider.models import Application

    from tests.factories import MembershipFactory, UserFactory

    form = {
        "name": "sneaky",
        "client_id": "sneaky-client",
        "client_secret": "sneaky-secret-0123456789",
        "client_type": "confidential",
        "authorization_grant_type": "client-credentials",
        "redirect_uris": "",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "algorithm": "",
    }
    client.force_login(MembershipFactory(tenant=tenant, role=role).user)
    for url in ("/o/applications/", "/o/applications/register/", "/o/authorized_tokens/"):
        assert client.get(url).status_code == 403, url
    assert client.post("/o/applications/register/", form).status_code == 403
    assert not Application.objects.filter(name="sneaky").exists()

    client.logout()
    anonymous = client.get("/o/applications/register/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert client.get("/o/applications/register/").status_code == 200
    response = client.post("/o/applications/register/", form)
    assert response.status_code == 302, response.content[:1000]
    assert Application.objects.filter(name="sneaky").exists()

"""Secrets at rest and in transit: a new client secret never travels in a cookie, tokens are stored hashed."""

import base64
import hashlib
import re

import pytest
from oauth2_provider.models import AccessToken

from tests.factories import UserFactory, connected_app_for
from tests.helpers import partner_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    return UserFactory(username="operator", is_staff=True, is_superuser=True)


def _token(client, client_id, secret):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")


def test_a_new_client_secret_is_shown_once_and_never_set_in_a_cookie(client, operator, partner):
    client.force_login(operator)
    created = client.post(
        "/admin/packages/connectedapp/add/",
        {"partner": str(partner.pk), "name": "prod", "scope_choices": ["interactions"], "is_active": "on"},
    )
    assert created.status_code == 302
    page = client.get(created["Location"])
    shown = re.search(r"client_secret (\S+) ", page.content.decode())
    assert shown, "the secret is shown on the page after saving"
    secret = shown.group(1)
    for response in (created, page):
        for name, morsel in response.cookies.items():
            assert secret not in morsel.value, f"the secret travelled in the {name} cookie"
        assert "messages" not in response.cookies  # messages live in the server-side session
    assert "messages" not in client.cookies
    assert secret not in client.get(created["Location"]).content.decode()  # once only
    app = partner.connected_apps.get(name="prod")
    assert _token(client, app.application.client_id, secret).status_code == 200  # it was the real one


def test_a_rotated_secret_does_not_travel_in_a_cookie_either(client, operator, partner):
    app, _ = connected_app_for(partner, scopes=["interactions"])
    client.force_login(operator)
    url = f"/admin/packages/connectedapp/{app.pk}/change/"
    rotated = client.post(url, {"name": app.name, "scope_choices": ["interactions"], "rotate_secret": "on"})
    assert rotated.status_code == 302
    page = client.get(rotated["Location"])
    secret = re.search(r"client_secret (\S+) ", page.content.decode()).group(1)
    assert all(secret not in m.value for r in (rotated, page) for m in r.cookies.values())
    assert "messages" not in client.cookies


def test_issued_access_tokens_are_stored_as_their_checksum_only(client, partner):
    app, secret = connected_app_for(partner, scopes=["interactions", "events"])
    response = _token(client, app.application.client_id, secret)
    assert response.status_code == 200, response.content
    raw = response.json()["access_token"]
    stored = AccessToken.objects.get(application=app.application)
    assert stored.token == ""  # the column that used to hold the bearer token in clear
    assert stored.token_checksum == hashlib.sha256(raw.encode()).hexdigest()
    assert not AccessToken.objects.filter(token=raw).exists()
    # and the token works: partner endpoints look it up by its checksum
    me = partner_client(raw).get("/api/v1/partner/")
    assert me.status_code == 200 and me.json()["partner_identifier"] == partner.partner_identifier

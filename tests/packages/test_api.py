"""The package API (FIG 8): create a draft, edit, delete, publish; published versions are immutable."""

import pytest

from ccp.packages.models import CommunicationPackage, PlatformEventType
from tests.factories import connected_app_for, make_manifest
from tests.helpers import assert_error, assert_partner_guarded

URL = "/api/v1/packages/"


def _create(api, **kwargs):
    response = api.post(URL, make_manifest(**kwargs), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_a_draft_and_read_it_back(api):
    body = _create(api)
    assert body["status"] == "draft"
    assert body["developer_name"] == "acme_whatsapp"
    assert body["channel_definition"]["channel_types"] == ["messaging"]
    assert body["channel_definition"]["consent_owner"] == "partner"
    assert body["manifest"]["event_types"][0]["outbound_messages"] is True
    assert api.get(f"{URL}{body['id']}/").json()["id"] == body["id"]
    assert [p["id"] for p in api.get(URL).json()] == [body["id"]]
    assert PlatformEventType.objects.get(package_id=body["id"]).schema["properties"]["payload"] == {"type": "object"}


def test_invalid_manifest_lists_every_problem_and_stores_nothing(api):
    manifest = make_manifest(version="x")
    manifest["channel_definition"]["routing_owner"] = "someone"
    error = assert_error(api.post(URL, manifest, format="json"), 400, "invalid_manifest")
    assert set(error["details"]) == {"version", "channel_definition.routing_owner"}
    assert "2 problem(s)" in error["message"]
    assert not CommunicationPackage.objects.exists()


def test_edit_a_draft_then_publish_then_it_is_immutable(api):
    package = _create(api)
    url = f"{URL}{package['id']}/"
    edited = api.patch(url, {"description": "new words"}, format="json")
    assert edited.status_code == 200 and edited.json()["description"] == "new words"

    published = api.post(f"{url}publish/")
    assert published.status_code == 200, published.content
    assert published.json()["status"] == "published" and published.json()["published_at"]

    assert_error(api.patch(url, {"description": "again"}, format="json"), 409, "package_published")
    assert_error(api.delete(url), 409, "package_published")
    assert_error(api.post(f"{url}publish/"), 409, "package_published")
    assert CommunicationPackage.objects.get(pk=package["id"]).description == "new words"


def test_invalid_edit_keeps_the_draft_as_it_was(api):
    package = _create(api)
    response = api.patch(f"{URL}{package['id']}/", {"event_types": [{"api_name": "bad"}]}, format="json")
    error = assert_error(response, 400, "invalid_manifest")
    assert "event_types[0].api_name" in error["details"] and "event_types[0]" in error["details"]
    assert CommunicationPackage.objects.get(pk=package["id"]).event_types.count() == 1


def test_delete_a_draft(api):
    package = _create(api)
    assert api.delete(f"{URL}{package['id']}/").status_code == 204
    assert not CommunicationPackage.objects.exists()


def test_a_new_version_is_a_new_draft_and_must_be_newer(api):
    v1 = _create(api)
    assert api.post(f"{URL}{v1['id']}/publish/").status_code == 200
    v2 = _create(api, version="1.1.0")
    old = _create(api, version="0.9.0")
    assert api.post(f"{URL}{v2['id']}/publish/").status_code == 200
    error = assert_error(api.post(f"{URL}{old['id']}/publish/"), 409, "version_not_newer")
    assert "1.1.0" in error["message"]
    assert_error(api.post(URL, make_manifest(version="1.1.0"), format="json"), 409, "version_exists")


def test_developer_name_is_unique_across_partners(api, other_api):
    _create(api)
    error = assert_error(other_api.post(URL, make_manifest(), format="json"), 400, "developer_name_taken")
    assert "channel_definition.developer_name" in error["details"]


def test_manifest_may_name_only_the_partners_own_connected_app(api, connected_app, other_connected_app):
    own = _create(api, connected_app=connected_app.application.client_id)
    assert own["connected_app"] == connected_app.application.client_id
    response = api.post(
        URL, make_manifest("other_name", connected_app=other_connected_app.application.client_id), format="json"
    )
    error = assert_error(response, 400, "invalid_manifest")
    assert "connected_app" in error["details"]


def test_publish_revalidates_a_connected_app_that_is_gone(api, partner):
    app, _ = connected_app_for(partner, scopes=["packages"])
    package = _create(api, connected_app=app.application.client_id)
    app.application.delete()
    error = assert_error(api.post(f"{URL}{package['id']}/publish/"), 400, "invalid_manifest")
    assert "connected_app" in error["details"]


def test_create_is_idempotent_with_a_key(api):
    first = api.post(URL, make_manifest(), format="json", HTTP_IDEMPOTENCY_KEY="pkg-1")
    again = api.post(URL, make_manifest(), format="json", HTTP_IDEMPOTENCY_KEY="pkg-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert CommunicationPackage.objects.count() == 1


def test_malformed_ids_are_404(api):
    assert_error(api.get(f"{URL}not-a-uuid/"), 404, "package_not_found")


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("GET", "", None),
        ("PATCH", "", {"description": "x"}),
        ("DELETE", "", None),
        ("POST", "publish/", None),
    ],
)
def test_package_endpoints_negative_suite(api, connected_app, other_connected_app, method, suffix, data):
    package = _create(api)
    assert_partner_guarded(
        method,
        f"{URL}{package['id']}/{suffix}",
        scope="packages",
        owner_app=connected_app,
        other_app=other_connected_app,
        data=data,
    )
    assert CommunicationPackage.objects.get(pk=package["id"]).status == "draft"


def test_package_list_negative_suite(api, connected_app, other_api):
    _create(api)
    assert_partner_guarded("GET", URL, scope="packages", owner_app=connected_app)
    assert_partner_guarded("POST", URL, scope="packages", owner_app=connected_app, data=make_manifest("x_name"))
    assert other_api.get(URL).json() == []  # another partner sees none of them


def test_a_package_without_a_connector_url_publishes(api):
    manifest = make_manifest()
    del manifest["channel_definition"]["connector_url"]
    package = api.post(URL, manifest, format="json").json()
    assert package["channel_definition"]["connector_url"] == ""
    assert api.post(f"{URL}{package['id']}/publish/").status_code == 200

"""The guard at the API edge: bad bytes and shapes answer a 4xx with the envelope, never a 500."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from ccp.packages.models import CommunicationPackage
from routing.models import AgentPresence, AiRoutingConfig, Queue, Skill
from tests.factories import PASSWORD, MembershipFactory, make_manifest
from tests.helpers import assert_error

PACKAGES = "/api/v1/packages/"


def _post_raw(api, url, body: str | bytes, **extra):
    return api.generic("POST", url, body, content_type="application/json", **extra)


@pytest.mark.parametrize(
    "manifest_change, field",
    [
        ({"name": "Acme\u0000"}, "name"),
        ({"description": "half a pair \ud800"}, "description"),
        ({"metadata": {"tags": ["ok", "bad\u0000"]}}, "metadata.tags[1]"),
    ],
)
def test_nul_and_lone_surrogates_in_a_body_are_400_naming_the_field(api, manifest_change, field):
    body = json.dumps(make_manifest(**manifest_change))  # ensure_ascii: \u0000 and \ud800 as escapes
    error = assert_error(_post_raw(api, PACKAGES, body), 400, "invalid")
    assert field in error["details"], error
    assert field in error["message"] and "NUL" in error["message"]
    assert not CommunicationPackage.objects.exists()


def test_a_bad_field_name_is_400_too(api):
    body = json.dumps(make_manifest(metadata={"k\u0000": 1}))
    error = assert_error(_post_raw(api, PACKAGES, body), 400, "invalid")
    assert "the field name" in error["message"]


def test_nul_and_surrogates_in_query_path_and_headers_are_400(api):
    error = assert_error(api.get(PACKAGES + "?status=pub%00lished"), 400, "invalid")
    assert error["details"] == {"query.status": [error["details"]["query.status"][0]]}
    assert_error(api.get("/api/v1/conversations/abc%00/"), 400, "invalid")
    error = assert_error(api.get(PACKAGES, HTTP_X_TRACE_ID="a\x00b"), 400, "invalid")
    assert "header.X-Trace-Id" in error["details"]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_nul_in_a_form_body_is_400_on_the_token_endpoint(client, content_type):
    form = {"grant_type": "client_credentials", "client_id": "abc\x00"}
    if content_type.startswith("application/"):
        response = client.post("/o/token/", "grant_type=client_credentials&client_id=abc%00", content_type=content_type)
    else:
        response = client.post("/o/token/", form)  # the test client's default: multipart
    error = assert_error(response, 400, "invalid")
    assert "client_id" in error["details"]


def test_deep_nesting_is_400_at_the_documented_limit(api, settings):
    limit = settings.API_MAX_JSON_DEPTH

    def nested(levels: int) -> str:  # `levels` objects, one inside the other
        return '{"metadata": ' + '{"a": ' * (levels - 1) + "1" + "}" * (levels - 1) + "}"

    # exactly the limit passes the guard (the manifest is then merely incomplete)
    assert_error(_post_raw(api, PACKAGES, nested(limit)), 400, "invalid_manifest")
    error = assert_error(_post_raw(api, PACKAGES, nested(limit + 1)), 400, "invalid")
    assert f"deeper than {limit}" in error["message"]
    # far past Python's recursion limit: still a clean 400, not a RecursionError
    assert_error(_post_raw(api, PACKAGES, "[" * 200_000 + "]" * 200_000), 400, "invalid")


def test_a_body_over_the_limit_is_413(api, settings):
    body = json.dumps({"name": "x" * (settings.API_MAX_BODY_BYTES + 10)})
    error = assert_error(_post_raw(api, PACKAGES, body), 413, "payload_too_large")
    assert error["details"] == {"max_bytes": settings.API_MAX_BODY_BYTES}


@pytest.mark.parametrize("body, got", [("[1, 2]", "an array"), ('"text"', "a string"), ("null", "null")])
def test_a_body_of_the_wrong_json_type_is_400(api, body, got):
    error = assert_error(_post_raw(api, PACKAGES, body), 400, "invalid")
    assert error["details"] == {"body": [f"must be a JSON object, not {got}"]}


def test_agent_endpoints_refuse_a_list_body(agent):
    client = Client()
    client.force_login(agent.user)
    response = client.post("/api/v1/agent/consent/", "[1]", content_type="application/json")
    assert_error(response, 400, "invalid")


def test_the_package_draft_validates_its_body_before_saying_the_model_is_missing(api, settings):
    settings.AI_PROVIDER_BASE_URL = ""
    assert_error(_post_raw(api, "/api/v1/packages/draft/", "[]"), 400, "invalid")
    error = assert_error(api.post("/api/v1/packages/draft/", {"description": ""}, format="json"), 400, "invalid")
    assert "description" in error["details"]
    assert api.post("/api/v1/packages/draft/", {"description": "WhatsApp"}, format="json").status_code == 503


@pytest.mark.parametrize("method", ["get_state", "put_status"])
def test_a_tenant_admin_asking_for_agent_state_gets_a_clear_403(tenant_admin, method):
    client = Client()
    client.force_login(tenant_admin.user)
    if method == "get_state":
        response = client.get("/api/v1/agent/state/")
    else:
        response = client.put("/api/v1/agent/status/", {"status": "online"}, content_type="application/json")
    error = assert_error(response, 403, "not_an_agent")
    assert "tenant admin" in error["message"]
    assert not AgentPresence.objects.filter(membership=tenant_admin).exists()


def test_agents_still_get_their_state(agent):
    client = Client()
    client.force_login(agent.user)
    assert client.get("/api/v1/agent/state/").status_code == 200


@pytest.mark.parametrize(
    "url, model, data",
    [
        ("/admin/routing/skill/add/", Skill, {"name": "billing"}),
        (
            "/admin/routing/queue/add/",
            Queue,
            {"name": "front", "strategy": "most_available", "ordering": "fifo", "priority": 0, "aging_seconds": 60},
        ),
        ("/admin/routing/airoutingconfig/add/", AiRoutingConfig, {"share": 10, "min_probability": 0.5}),
    ],
)
def test_duplicates_in_the_admin_are_form_errors(tenant, url, model, data):
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    client = Client()
    assert client.login(username=admin_member.user.username, password=PASSWORD)
    form = client.get(url)
    assert form.status_code == 200
    # fill every field the form renders with its initial value, then override with ours
    first = client.post(url, {**_initials(form), **data})
    assert first.status_code == 302, first.content.decode()[-3000:]
    again = client.post(url, {**_initials(form), **data})
    assert again.status_code == 200  # the form again, with the error
    assert "already exists" in again.content.decode()
    assert model.objects.filter(tenant=tenant).count() == 1


def _initials(response) -> dict:
    form = response.context["adminform"].form
    out = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if callable(value):
            value = value()
        if value is None or isinstance(value, list | tuple):
            continue
        if isinstance(value, dict):
            value = json.dumps(value)
        if isinstance(value, bool):
            if not value:
                continue
            value = "on"
        out[name] = value
    return out


@pytest.mark.django_db(transaction=True)
def test_a_malformed_websocket_frame_gets_an_error_frame_and_the_socket_stays(agent):
    from ccp.asgi import application

    client = Client()
    client.force_login(agent.user)
    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", b"http://localhost")]

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        assert (await communicator.receive_json_from(timeout=10))["type"] == "hello"
        for frame, code in [("not json", "malformed_frame"), ("[1]", "invalid_frame"), ('{"type": "x"}', None)]:
            await communicator.send_to(text_data=frame)
            reply = await communicator.receive_json_from(timeout=10)
            assert reply["type"] == "error"
            assert reply["data"]["code"] == (code or "unknown_frame_type")
        await communicator.send_to(bytes_data=b"\x00\x01")
        assert (await communicator.receive_json_from(timeout=10))["data"]["code"] == "malformed_frame"
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(timeout=10) == {"type": "pong", "data": {}}
        await communicator.disconnect()

    async_to_sync(scenario)()

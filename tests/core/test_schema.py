"""The OpenAPI schema declares every error an operation can answer, with the one error envelope."""

import json

import pytest

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_the_error_envelope_is_one_component(schema):
    components = schema["components"]["schemas"]
    assert components["ErrorEnvelope"]["required"] == ["error"]
    assert set(components["Error"]["required"]) == {"code", "message", "details"}


def test_every_operation_declares_the_edge_errors_with_the_envelope(schema):
    for method, path, operation in _operations(schema):
        responses = operation["responses"]
        for status in ("400", "401", "403", "406", "503"):
            assert status in responses, (method, path, status)
            assert responses[status]["content"]["application/json"]["schema"] == ENVELOPE, (method, path, status)
        assert ("404" in responses) >= ("{" in path), (method, path)  # a path naming an object can be missing
        assert ("409" in responses) >= (method == "POST"), (method, path)  # Idempotency-Key
        if "requestBody" in operation:
            assert {"413", "415"} <= responses.keys(), (method, path)
        if any("partnerOAuth2" in requirement for requirement in operation.get("security", [])):
            assert "Retry-After" in responses["429"]["headers"], (method, path)  # partners are rate-limited


def test_every_post_declares_the_idempotency_key_header(schema):
    for method, path, operation in _operations(schema):
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert len(headers) == (method == "POST"), (method, path)
        if headers:
            assert headers[0]["schema"]["maxLength"] == 255 and not headers[0]["required"], (method, path)


def test_a_views_own_statuses_are_declared_per_method(schema):
    package = schema["paths"]["/api/v1/packages/{package_id}/"]
    assert "409" in package["patch"]["responses"] and "409" in package["delete"]["responses"]  # package_published
    assert "409" not in package["get"]["responses"]
    assert "404" in schema["paths"]["/api/v1/interactions/"]["post"]["responses"]  # unknown_channel in the body
    assert "410" in schema["paths"]["/api/v1/events/"]["get"]["responses"]  # replay_expired


def test_agent_endpoints_are_not_rate_limited_so_do_not_declare_429(schema):
    assert "429" not in schema["paths"]["/api/v1/agent/state/"]["get"]["responses"]


def test_rules_beyond_fields_are_in_the_request_schema(schema):
    components = schema["components"]["schemas"]
    route = components["ConversationRouteInputRequest"]
    assert route["oneOf"] == [{"required": ["agent_id"]}, {"required": ["queue"]}]
    reply = schema["paths"]["/api/v1/agent/conversations/{conversation_id}/messages/"]["post"]["requestBody"]
    assert reply["required"] is True  # "write something or attach a file": an empty POST is refused
    assert len(components["AgentMessagesInputRequest"]["anyOf"]) == 2

"""Partner-supplied JSON schemas stay inert: nothing is fetched, patterns run on re2, budgets hold."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ccp.core.errors import Invalid
from ccp.events.services import event_publish
from ccp.packages import services as package_services
from ccp.packages.models import CommunicationPackage, PackageCustomObject, PlatformEventType
from ccp.packages.selectors import package_schema_problems
from tenants import services as tenant_services
from tenants.models import CustomObjectDefinition
from tests.factories import make_manifest
from tests.helpers import assert_error

URL = "/api/v1/packages/"
CATASTROPHIC = "^(a+)+$"  # exponential on a backtracking engine, linear on re2


@pytest.fixture
def bait():
    """A local HTTP server a schema points at: it must never see a request."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b'{"type": "string", "description": "SECRET-FROM-INSIDE"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/schema.json", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def _manifest_with_field(schema: dict, **kwargs) -> dict:
    manifest = make_manifest(**kwargs)
    manifest["event_types"][0]["fields"]["payload"] = schema
    return manifest


def test_a_remote_ref_is_refused_at_creation_and_never_fetched(api, bait):
    url, hits = bait
    response = api.post(URL, _manifest_with_field({"$ref": url}), format="json")
    error = assert_error(response, 400, "invalid_manifest")
    assert "only point inside this schema" in str(error["details"]["event_types[0].fields.payload.$ref"])
    assert "SECRET-FROM-INSIDE" not in response.content.decode()
    assert hits == []
    assert not CommunicationPackage.objects.exists()


@pytest.mark.parametrize(
    "schema, where, words",
    [
        ({"$ref": "file:///etc/passwd"}, "event_types[0].fields.payload.$ref", "only point inside"),
        ({"$ref": "#/$defs/missing"}, "event_types[0].fields.payload.$ref", "not in this schema"),
        ({"$id": "http://x/", "type": "object"}, "event_types[0].fields.payload.$id", "may not set $id"),
        ({"type": "string", "pattern": "^(a+)\\1$"}, "event_types[0].fields.payload.pattern", "linear time"),
        ({"type": "string", "pattern": "(?=a)b"}, "event_types[0].fields.payload.pattern", "look-around"),
        ({"type": "string", "format": "idn-email"}, "event_types[0].fields.payload.format", "must be one of"),
        ({"type": "object", "patternProperties": {"(?!x)": {}}}, "patternProperties", "linear time"),
    ],
)
def test_unsafe_schemas_are_refused_with_the_field_named(api, schema, where, words):
    error = assert_error(api.post(URL, _manifest_with_field(schema), format="json"), 400, "invalid_manifest")
    matching = {k: v for k, v in error["details"].items() if where in k}
    assert matching, error["details"]
    assert words in str(matching)


def test_depth_and_size_budgets(api, settings):
    deep: dict = {"type": "string"}
    for _ in range(settings.PARTNER_SCHEMA_MAX_DEPTH // 2):  # two JSON levels each, within the body limit
        deep = {"type": "object", "properties": {"x": deep}}
    error = assert_error(api.post(URL, _manifest_with_field(deep), format="json"), 400, "invalid_manifest")
    assert "nests deeper than" in str(error["details"]["event_types[0].fields"])

    big = {"type": "string", "enum": ["x" * 1000] * (settings.PARTNER_SCHEMA_MAX_BYTES // 1000 + 1)}
    error = assert_error(api.post(URL, _manifest_with_field(big), format="json"), 400, "invalid_manifest")
    assert "bytes; a partner schema may have at most" in str(error["details"]["event_types[0].fields"])


def test_local_refs_and_safe_keywords_are_accepted(api):
    schema = {
        "type": "object",
        "$defs": {"code": {"type": "string", "pattern": CATASTROPHIC, "format": "regex"}},
        # "#" is the record's schema, whose properties are the event type's fields
        "properties": {
            "a": {"$ref": "#/properties/payload/$defs/code"},
            "when": {"type": "string", "format": "date-time"},
        },
        "patternProperties": {"^x_": {"type": "integer"}},
        "additionalProperties": False,
    }
    response = api.post(URL, _manifest_with_field(schema), format="json")
    assert response.status_code == 201, response.json()


def _stored_unchecked(partner, schema: dict) -> CommunicationPackage:
    """A package published before schemas were checked: the rows written as they were then."""
    package = package_services.package_create(partner=partner, manifest=make_manifest())
    package = package_services.package_publish(package=package)
    PlatformEventType.objects.filter(package=package).update(
        fields={"payload": schema, "channel_address_id": {"type": "string"}}
    )
    PackageCustomObject.objects.filter(package=package).update(fields={"body": schema})
    return package


def test_an_old_package_with_a_remote_ref_is_refused_at_install_and_never_fetched(partner, tenant, bait):
    url, hits = bait
    package = _stored_unchecked(partner, {"$ref": url})
    problems = package_schema_problems(package=package)
    assert "event_types.AcmeOutbound__e.properties.payload.$ref" in problems
    with pytest.raises(Invalid) as refused:
        tenant_services.package_install(
            tenant=tenant,
            developer_name=package.developer_name,
            partner_identifier=partner.partner_identifier,
            channels=[],
        )
    assert refused.value.code == "unsafe_package_schema"
    assert hits == []


def test_validation_never_fetches_even_with_a_stored_remote_ref(partner, tenant, bait):
    url, hits = bait
    package = _stored_unchecked(partner, {"$ref": url})
    event_type = package.event_types.get()
    with pytest.raises(Invalid) as refused:
        event_publish(tenant=tenant, type=event_type.api_name, data={"payload": "x"}, schema=event_type.schema)
    assert refused.value.code == "invalid_event_schema"
    assert "SECRET" not in refused.value.message

    definition = CustomObjectDefinition.objects.create(
        tenant=tenant, namespace="old", api_name="Old__c", fields={"body": {"$ref": url}}, required=[]
    )
    problems = tenant_services.custom_record_problems(definition=definition, data={"body": "x"})
    assert "cannot be run safely" in problems["schema"][0]
    assert hits == []


def test_a_catastrophic_pattern_is_validated_in_linear_time(partner, tenant):
    package = package_services.package_create(
        partner=partner, manifest=_manifest_with_field({"type": "string", "pattern": CATASTROPHIC})
    )
    event_type = package.event_types.get()
    started = time.monotonic()
    with pytest.raises(Invalid) as refused:
        event_publish(
            tenant=tenant, type=event_type.api_name, data={"payload": "a" * 50_000 + "!"}, schema=event_type.schema
        )
    assert time.monotonic() - started < 1.0  # Python's re needs longer than the universe for this
    assert refused.value.code == "invalid_event_data"
    event_publish(tenant=tenant, type=event_type.api_name, data={"payload": "aaaa"}, schema=event_type.schema)


def test_formats_are_checked_by_safe_code(partner, tenant):
    package = package_services.package_create(
        partner=partner, manifest=_manifest_with_field({"type": "string", "format": "date-time"})
    )
    event_type = package.event_types.get()
    with pytest.raises(Invalid) as refused:
        event_publish(tenant=tenant, type=event_type.api_name, data={"payload": "yesterday"}, schema=event_type.schema)
    assert refused.value.code == "invalid_event_data"
    event_publish(
        tenant=tenant, type=event_type.api_name, data={"payload": "2026-12-01T10:00:00Z"}, schema=event_type.schema
    )

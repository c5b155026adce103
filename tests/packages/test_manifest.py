"""Manifest validation reports every problem at once, each under its field path."""

from ccp.packages.manifest import validate_manifest
from tests.factories import make_manifest


def test_the_documented_manifest_is_valid():
    assert validate_manifest(make_manifest()) == {}


def test_every_problem_is_reported_with_its_path():
    manifest = make_manifest(version="one", extra_field=1)
    manifest["channel_definition"].update(
        developer_name="Bad Name", channel_types=["messaging", "fax"], connector_url="http://partner.example/c"
    )
    manifest["event_types"] = [
        {"api_name": "Out__e", "outbound_messages": True, "fields": {"payload": {"type": "strin"}}},
        {"api_name": "out__e", "outbound_messages": True, "fields": {"x": {"type": "string"}}, "required": ["y"]},
    ]
    problems = validate_manifest(manifest)
    assert set(problems) >= {
        "version",
        "manifest",  # the unknown top-level field
        "channel_definition.developer_name",
        "channel_definition.channel_types[1]",
        "channel_definition.connector_url",
        "event_types[1].api_name",
        "event_types[1].required",
        "event_types",
    }, problems
    assert any("version like 1.0.0" in p for p in problems["version"])
    assert any("extra_field" in p for p in problems["manifest"])
    assert any("https" in p for p in problems["channel_definition.connector_url"])
    assert any("valid JSON schema" in p for key, ps in problems.items() for p in ps if key.startswith("event_types[0]"))


def test_localhost_connector_is_allowed_for_development():
    manifest = make_manifest()
    manifest["channel_definition"]["connector_url"] = "http://localhost:8001/connector.html"
    assert validate_manifest(manifest) == {}


def test_a_non_object_is_refused():
    assert validate_manifest([1, 2]) == {"manifest": ["must be a JSON object"]}


def test_missing_required_parts():
    problems = validate_manifest({"name": "x"})
    assert "manifest" in problems
    assert any("version" in p for p in problems["manifest"])
    assert any("channel_definition" in p for p in problems["manifest"])


def test_connected_app_must_be_the_partners():
    manifest = make_manifest(connected_app="someone-elses")
    problems = validate_manifest(manifest, partner_client_ids={"mine"})
    assert "connected_app" in problems


def test_a_required_list_of_the_wrong_type_is_reported_not_a_crash():
    """`required: false` on a custom object made validate_manifest raise TypeError (a 500; found by schemathesis)."""
    manifest = make_manifest()
    manifest["custom_objects"][0]["required"] = False
    manifest["event_types"][0]["required"] = "channel_address_id"
    problems = validate_manifest(manifest)
    assert problems.keys() == {"custom_objects[0].required", "event_types[0].required"}, problems
    assert all("is not of type 'array'" in p for ps in problems.values() for p in ps), problems


def test_values_longer_than_their_columns_are_reported_not_a_database_error():
    """A version over 40 characters reached the INSERT and answered 500 (found by schemathesis)."""
    manifest = make_manifest(version="1" * 30 + ".1" + "1" * 10 + ".0")  # a valid version, 44 characters
    manifest["event_types"][0]["label"] = "x" * 201
    manifest["custom_objects"][0]["label"] = "x" * 201
    assert validate_manifest(manifest).keys() == {"version", "event_types[0].label", "custom_objects[0].label"}

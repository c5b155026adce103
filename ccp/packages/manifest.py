"""The package manifest: its JSON schema and every check a package must pass, reported all at once.

A problem is reported as `{"<field path>": ["sentence", …]}` so a partner can fix every field in one
round trip. Structural checks come from the JSON schema; the rest (event-type schemas compile,
names unique, connector URL policy, the connected app is the partner's) are semantic checks.
"""

from __future__ import annotations

import re
from collections import defaultdict
from urllib.parse import urlparse

from jsonschema import Draft202012Validator

from ccp.core.untrusted_schema import UnsafeSchema, check_untrusted_schema

from .choices import ChannelType, Owner

SEMVER = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$"
DEVELOPER_NAME = r"^[a-z][a-z0-9_]{2,79}$"
API_NAME_EVENT = r"^[A-Za-z][A-Za-z0-9_]{0,70}__e$"
API_NAME_OBJECT = r"^[A-Za-z][A-Za-z0-9_]{0,70}__c$"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}

MANIFEST_SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "version", "channel_definition"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "version": {"type": "string", "pattern": SEMVER, "maxLength": 40},  # the column's length
        "description": {"type": "string", "maxLength": 4000},
        "connected_app": {"type": "string", "description": "client_id of one of the partner's connected apps"},
        "metadata": {"type": "object"},
        "channel_definition": {
            "type": "object",
            "additionalProperties": False,
            "required": ["developer_name", "channel_types"],
            "properties": {
                "developer_name": {"type": "string", "pattern": DEVELOPER_NAME},
                "label": {"type": "string", "maxLength": 200},
                "channel_types": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"enum": list(ChannelType.values)},
                },
                "routing_owner": {"enum": list(Owner.values)},
                "consent_owner": {"enum": list(Owner.values)},
                "capabilities": {
                    "type": "object",
                    "additionalProperties": {"type": "boolean"},
                },
                "connector_url": {"type": "string", "maxLength": 500},
                "consent_defaults": {"type": "object"},
            },
        },
        "event_types": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["api_name", "fields"],
                "properties": {
                    "api_name": {"type": "string", "pattern": API_NAME_EVENT},
                    "label": {"type": "string", "maxLength": 200},
                    "outbound_messages": {"type": "boolean"},
                    "fields": {"type": "object", "minProperties": 1},
                    "required": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "custom_objects": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["api_name", "fields"],
                "properties": {
                    "api_name": {"type": "string", "pattern": API_NAME_OBJECT},
                    "label": {"type": "string", "maxLength": 200},
                    "fields": {"type": "object", "minProperties": 1},
                    "required": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_manifest_validator = Draft202012Validator(MANIFEST_SCHEMA)

_PATTERN_HELP = {
    SEMVER: "must be a version like 1.0.0",
    DEVELOPER_NAME: "must be 3 to 80 lowercase letters, digits or underscores, starting with a letter",
    API_NAME_EVENT: "must be letters, digits or underscores ending in __e, like AcmeOutbound__e",
    API_NAME_OBJECT: "must be letters, digits or underscores ending in __c, like WaTemplate__c",
}


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "manifest"


def _sentence(error) -> str:
    if error.validator == "pattern":
        return _PATTERN_HELP.get(error.validator_value, f"does not match {error.validator_value}")
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "Unknown field(s)")
    if error.validator == "enum":
        return f"must be one of {', '.join(map(str, error.validator_value))}"
    return error.message


def fields_schema(fields: dict, required: list[str] | None = None) -> dict:
    """The JSON schema of an event type's or custom object's record, from its `fields` map."""
    return {
        "type": "object",
        "properties": fields,
        "required": list(required or []),
        "additionalProperties": False,
    }


def connector_url_problem(url: str) -> str | None:
    if url == "":
        return None  # no connector page: the workspace uses the built-in connector
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.netloc:
        return None
    if parsed.scheme == "http" and parsed.hostname in LOCAL_HOSTS:
        return None
    return "must be an https:// URL (http:// is allowed only for localhost during development)"


def validate_manifest(manifest: object, *, partner_client_ids: set[str] | None = None) -> dict[str, list[str]]:
    """Every problem of a manifest as {field path: [sentences]}; empty when valid.

    `partner_client_ids` are the client ids of the partner's connected apps: a manifest may only
    name one of them.
    """
    problems: dict[str, list[str]] = defaultdict(list)
    if not isinstance(manifest, dict):
        return {"manifest": ["must be a JSON object"]}
    for error in sorted(_manifest_validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))):
        problems[_path(error.absolute_path)].append(_sentence(error))

    definition = manifest.get("channel_definition")
    if isinstance(definition, dict) and isinstance(definition.get("connector_url"), str):
        problem = connector_url_problem(definition["connector_url"])
        if problem:
            problems["channel_definition.connector_url"].append(problem)

    for section in ("event_types", "custom_objects"):
        items = manifest.get(section)
        if not isinstance(items, list):
            continue
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            name = item.get("api_name")
            if isinstance(name, str):
                if name.lower() in seen:
                    problems[f"{section}[{index}].api_name"].append(
                        f"'{name}' is already used by {section}[{seen[name.lower()]}]"
                    )
                seen.setdefault(name.lower(), index)
            fields = item.get("fields")
            required = item.get("required") if isinstance(item.get("required"), list) else None  # else: reported above
            if isinstance(fields, dict):
                try:
                    check_untrusted_schema(fields_schema(fields, required))
                except UnsafeSchema as exc:
                    for parts, sentence in exc.problems:
                        inner = list(parts)[1:] if parts and parts[0] == "properties" else list(parts)
                        problems[_path([section, index, "fields", *inner])].append(sentence)
                missing = [r for r in required or [] if isinstance(r, str) and r not in fields]
                if missing:
                    problems[f"{section}[{index}].required"].append(f"names unknown field(s): {', '.join(missing)}")
        if section == "event_types":
            outbound = [i for i, it in enumerate(items) if isinstance(it, dict) and it.get("outbound_messages")]
            if len(outbound) > 1:
                problems["event_types"].append(
                    f"only one event type may carry outbound messages; {len(outbound)} do ({outbound})"
                )

    client_id = manifest.get("connected_app")
    if isinstance(client_id, str) and partner_client_ids is not None and client_id not in partner_client_ids:
        problems["connected_app"].append("is not one of your connected apps (give its client_id)")
    return dict(problems)


def normalize_manifest(manifest: dict) -> dict:
    """Fill documented defaults so a stored manifest says exactly what the platform will do."""
    out = dict(manifest)
    definition = dict(out["channel_definition"])
    definition.setdefault("label", out["name"])
    definition.setdefault("routing_owner", Owner.PLATFORM)
    definition.setdefault("consent_owner", Owner.PLATFORM)
    definition.setdefault("capabilities", {})
    definition.setdefault("connector_url", "")
    definition.setdefault("consent_defaults", {})
    out["channel_definition"] = definition
    out.setdefault("description", "")
    out.setdefault("metadata", {})
    out["event_types"] = [
        {"label": e["api_name"], "outbound_messages": False, "required": [], **e} for e in out.get("event_types", [])
    ]
    out["custom_objects"] = [{"label": c["api_name"], "required": [], **c} for c in out.get("custom_objects", [])]
    return out


def version_key(version: str) -> tuple[int, int, int]:
    match = re.match(SEMVER, version)
    if not match:
        return (0, 0, 0)
    return tuple(int(g) for g in match.groups())  # type: ignore[return-value]

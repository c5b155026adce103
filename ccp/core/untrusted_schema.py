"""JSON schemas a partner supplies (event types, custom objects), kept inert.

A partner's schema is untrusted input. It is refused at creation when it could make the platform do
something on its behalf: a `$ref` outside the document (jsonschema would fetch `http://` / `file://`
on the request thread), a size or depth past the budget, a `pattern` that the linear-time engine
(google-re2) cannot run, or a `format` this module does not check safely. Validation then runs on a
validator that never retrieves anything and runs every pattern on re2, so a schema stored before
these checks existed is validated safely too (an unsafe one fails with a clear error, never a fetch
or a frozen process).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit

import re2
from django.conf import settings
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Keywords whose value is one subschema, a {name: subschema} map, or a list of subschemas.
_ONE = {
    "additionalItems",
    "additionalProperties",
    "contains",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
}
_MAP = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
# Keywords that change where references resolve, or reach other documents: never in a partner schema.
_REFUSED = {
    "$id": "may not set $id: a partner schema is one self-contained document",
    "$dynamicRef": 'may not use $dynamicRef; use a local $ref ("#/...")',
    "$recursiveRef": 'may not use $recursiveRef; use a local $ref ("#/...")',
    "$dynamicAnchor": "may not use $dynamicAnchor",
    "$recursiveAnchor": "may not use $recursiveAnchor",
}


class UnsafeSchema(Exception):
    """A schema that may not be run; `problems` is [(path parts, sentence), …]."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__(problems[0][1] if problems else "unsafe schema")


# --- patterns on re2 -----------------------------------------------------------------------------


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.max_mem = settings.PARTNER_SCHEMA_PATTERN_MAX_MEM
    options.log_errors = False  # a refused pattern is the partner's error, reported to them, not logged
    return options


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str):
    """The pattern compiled by re2 (linear time, no backtracking); raises re2.error when re2 cannot run it."""
    if len(pattern) > settings.PARTNER_SCHEMA_PATTERN_MAX_CHARS:
        raise re2.error(f"longer than {settings.PARTNER_SCHEMA_PATTERN_MAX_CHARS} characters")
    return re2.compile(pattern, options=_re2_options())


def pattern_problem(pattern: object) -> str | None:
    if not isinstance(pattern, str):
        return "must be a string"
    try:
        compile_pattern(pattern)
    except re2.error as exc:
        why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return (
            f"is not a pattern the platform can run in linear time ({why}); back-references and "
            "look-around are not supported"
        )
    return None


# --- formats: the ones checked here, by code that cannot be made slow ----------------------------


def _is_datetime(value: str) -> bool:
    if "T" not in value.upper():
        return False
    parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return parsed.tzinfo is not None


def _is_time(value: str) -> bool:
    return time.fromisoformat(value.upper().replace("Z", "+00:00")).tzinfo is not None


def _is_uri(value: str) -> bool:
    parts = urlsplit(value)
    return bool(parts.scheme) and " " not in value


def _is_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain) and " " not in value


def _is_hostname(value: str) -> bool:
    labels = value.rstrip(".").split(".")
    return 0 < len(value) <= 253 and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii() for label in labels
    )


def _is_regex(value: str) -> bool:
    compile_pattern(value)
    return True


_FORMATS = {
    "date-time": (_is_datetime, ValueError),
    "date": (lambda v: bool(date.fromisoformat(v)) and len(v) == 10, ValueError),
    "time": (_is_time, ValueError),
    "email": (_is_email, ()),
    "hostname": (_is_hostname, ()),
    "ipv4": (lambda v: bool(ipaddress.IPv4Address(v)), ValueError),
    "ipv6": (lambda v: bool(ipaddress.IPv6Address(v)), ValueError),
    "uri": (_is_uri, ValueError),
    "uuid": (lambda v: bool(uuid.UUID(v)), ValueError),
    "regex": (_is_regex, re2.error),
}
SAFE_FORMATS = tuple(sorted(_FORMATS))


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    for name, (func, raises) in _FORMATS.items():

        def check(instance: object, func=func) -> bool:
            return not isinstance(instance, str) or func(instance)

        checker.checks(name, raises=raises)(check)
    return checker


FORMAT_CHECKER = _format_checker()


# --- the validator: re2 for every pattern, no retrieval ------------------------------------------


def _pattern(validator, patrn, instance, schema):
    if validator.is_type(instance, "string") and not compile_pattern(patrn).search(instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator, pattern_properties, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        compiled = compile_pattern(pattern)
        for key, value in instance.items():
            if compiled.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: dict, schema: dict) -> Iterator[str]:
    properties = schema.get("properties", {})
    patterns = [compile_pattern(p) for p in schema.get("patternProperties", {})]
    for key in instance:
        if key not in properties and not any(p.search(key) for p in patterns):
            yield key


def _additional_properties(validator, additional, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    extras = sorted(_additional(instance, schema), key=str)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        verb = "was" if len(extras) == 1 else "were"
        yield ValidationError(
            f"Additional properties are not allowed ({', '.join(map(repr, extras))} {verb} unexpected)"
        )


def _refuse_retrieval(uri: str):
    raise NoSuchResource(ref=uri)


NO_RETRIEVAL = Registry(retrieve=_refuse_retrieval)
SafeValidator = validators.extend(
    Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties},
)


# --- the checks at creation ----------------------------------------------------------------------


def _depth_and_size_problem(schema: object) -> str | None:
    try:
        size = len(json.dumps(schema, separators=(",", ":")))
    except (TypeError, ValueError, RecursionError):
        return "is not plain JSON"
    if size > settings.PARTNER_SCHEMA_MAX_BYTES:
        return f"is {size} bytes; a partner schema may have at most {settings.PARTNER_SCHEMA_MAX_BYTES}"
    deepest, stack = 0, [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if deepest > settings.PARTNER_SCHEMA_MAX_DEPTH:
                return f"nests deeper than {settings.PARTNER_SCHEMA_MAX_DEPTH} levels"
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return None


def _resolves_locally(root: object, ref: str, anchors: set[str]) -> bool:
    fragment = ref[1:]
    if fragment == "":
        return True
    if not fragment.startswith("/"):
        return fragment in anchors
    node = root
    for token in fragment[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def _subschemas(root: object) -> Iterator[tuple[tuple, dict]]:
    """Every (path, schema object) of the document, following keyword semantics (a property named
    `pattern` is a name, not a keyword), iteratively so a deep document cannot exhaust the stack."""
    stack: list[tuple[tuple, object]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield path, node
        for key, value in node.items():
            if (key in _LIST or key in _ONE) and isinstance(value, list):  # items may be a list (old drafts)
                stack.extend(((*path, key, i), sub) for i, sub in enumerate(value))
            elif key in _ONE:
                stack.append(((*path, key), value))
            elif key in _MAP and isinstance(value, dict):
                stack.extend(((*path, key, name), sub) for name, sub in value.items())


def schema_problems(schema: object) -> list[tuple[tuple, str]]:
    """Why a partner's schema may not be run, as [(path parts, sentence)]; empty when it is safe.

    Structural validity (a known keyword with a wrong value) is checked by `check_schema` after.
    """
    problem = _depth_and_size_problem(schema)
    if problem:
        return [((), problem)]
    problems: list[tuple[tuple, str]] = []
    nodes = list(_subschemas(schema))
    anchors = {n["$anchor"] for _, n in nodes if isinstance(n.get("$anchor"), str)}
    uses_unevaluated = uses_pattern_properties = False
    for path, node in nodes:
        for key, sentence in _REFUSED.items():
            if key in node:
                problems.append(((*path, key), sentence))
        if "$schema" in node and (path or node["$schema"] not in (SCHEMA_DIALECT, SCHEMA_DIALECT + "#")):
            problems.append(((*path, "$schema"), f"may only be {SCHEMA_DIALECT}, at the top"))
        ref = node.get("$ref")
        if ref is not None:
            if not isinstance(ref, str) or not ref.startswith("#"):
                problems.append(
                    ((*path, "$ref"), 'may only point inside this schema ("#/..."); nothing is ever fetched')
                )
            elif not _resolves_locally(schema, ref, anchors):
                problems.append(((*path, "$ref"), f"points at {ref!r}, which is not in this schema"))
        if "pattern" in node:
            why = pattern_problem(node["pattern"])
            if why:
                problems.append(((*path, "pattern"), why))
        if isinstance(node.get("patternProperties"), dict):
            uses_pattern_properties = True
            for pattern in node["patternProperties"]:
                why = pattern_problem(pattern)
                if why:
                    problems.append(((*path, "patternProperties", pattern), why))
        if "format" in node and node["format"] not in _FORMATS:
            problems.append(((*path, "format"), f"must be one of {', '.join(SAFE_FORMATS)}"))
        uses_unevaluated = uses_unevaluated or "unevaluatedProperties" in node
    if uses_unevaluated and uses_pattern_properties:
        problems.append(((), "may not combine unevaluatedProperties with patternProperties"))
    return problems


def check_untrusted_schema(schema: object) -> None:
    """Raise UnsafeSchema (with every problem) unless `schema` is safe and a valid 2020-12 schema."""
    problems = schema_problems(schema)
    if problems:
        raise UnsafeSchema(problems)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise UnsafeSchema([(tuple(exc.path), f"is not a valid JSON schema: {exc.message}")]) from None


@functools.lru_cache(maxsize=512)
def _cached_validator(schema_json: str):
    schema = json.loads(schema_json)
    check_untrusted_schema(schema)
    return SafeValidator(schema, registry=NO_RETRIEVAL, format_checker=FORMAT_CHECKER)


def untrusted_validator(schema: dict):
    """A validator for a partner's schema (cached per distinct schema and process); raises UnsafeSchema."""
    return _cached_validator(json.dumps(schema, sort_keys=True))


def untrusted_errors(schema: dict, data: Any) -> list[ValidationError]:
    """The errors of `data` against a partner's schema, first by path; raises UnsafeSchema when the
    schema may not be run (including a reference that does not resolve)."""
    validator = untrusted_validator(schema)
    try:
        return sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.path])
    except Unresolvable as exc:
        raise UnsafeSchema([((), f"has a reference that does not resolve: {exc}")]) from None


def path_text(parts) -> str:
    return ".".join(str(p) for p in parts)


__all__ = [
    "FORMAT_CHECKER",
    "SAFE_FORMATS",
    "UnsafeSchema",
    "check_untrusted_schema",
    "compile_pattern",
    "path_text",
    "schema_problems",
    "untrusted_errors",
    "untrusted_validator",
]

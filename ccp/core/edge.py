"""The guard at the API edge: bytes and shapes no view has to think about (docs/partner-api.md "Limits").

Two pieces, both here so that no view checks any of it itself:

- `EdgeGuardMiddleware` (every request): a body over `API_MAX_BODY_BYTES` answers 413
  `payload_too_large` before anything reads it; a NUL byte or an unpaired surrogate in the path, a
  query parameter, a header or a form field (`/o/token/`, the admin) answers 400 `invalid` naming
  it. PostgreSQL refuses both characters in text: let through, a caller's mistake becomes a 500.
- `GuardedJSONParser` (DRF's parser for every API view): the same characters anywhere in a JSON body
  (strings and keys), and nesting deeper than `API_MAX_JSON_DEPTH`, answer 400 `invalid` naming the
  field; Python's recursive parser never sees an unbounded document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from . import errors

# A JSON text can carry NUL or a surrogate only as an escape (a raw one is not valid JSON / UTF-8),
# so bodies without this pattern skip the walk over their strings.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF][0-9a-fA-F]{2})")
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
BAD_TEXT = "must not contain NUL bytes (\\u0000) or unpaired surrogates (\\ud800-\\udfff)"
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def bad_text(value: object) -> bool:
    return isinstance(value, str) and _BAD_CHARS.search(value) is not None


def _field(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _walk(data: Any) -> Iterator[tuple[tuple, Any, int]]:
    """(path, value, depth) of every value, iteratively: a deep document cannot exhaust the stack."""
    stack: list[tuple[tuple, Any, int]] = [((), data, 1)]
    while stack:
        path, value, depth = stack.pop()
        yield path, value, depth
        if isinstance(value, dict):
            stack.extend(((*path, key), item, depth + 1) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(((*path, index), item, depth + 1) for index, item in enumerate(value))


def _too_deep() -> errors.Invalid:
    limit = settings.API_MAX_JSON_DEPTH
    return errors.Invalid(
        f"The request is not valid — body: nests deeper than {limit} levels of objects and arrays.",
        code="invalid",
        details={"body": [f"nests deeper than {limit} levels"]},
    )


def check_json_document(data: Any, *, raw: bytes | None = None) -> None:
    """Raise Invalid when a parsed JSON body is too deep or carries NUL / unpaired surrogates."""
    limit = settings.API_MAX_JSON_DEPTH
    # depth <= the number of containers: most bodies are cleared without a walk
    containers_may_exceed = raw is None or raw.count(b"[") + raw.count(b"{") > limit
    suspect = raw is None or _SUSPECT_ESCAPE.search(raw) is not None
    if not (containers_may_exceed or suspect):
        return
    for path, value, depth in _walk(data):
        if depth > limit and isinstance(value, dict | list):
            raise _too_deep()
        if not suspect:
            continue
        if isinstance(value, dict):
            for key in value:
                if bad_text(key):
                    where = _field((*path, repr(key)[1:-1]))
                    raise errors.Invalid(
                        f"The request is not valid — {where}: the field name {BAD_TEXT}.",
                        code="invalid",
                        details={where: [f"the field name {BAD_TEXT}"]},
                    )
        elif bad_text(value):
            where = _field(path)
            raise errors.Invalid(
                f"The request is not valid — {where}: {BAD_TEXT}.", code="invalid", details={where: [BAD_TEXT]}
            )


class GuardedJSONParser(JSONParser):
    """DRF's JSON parser with the edge's limits: depth, NUL bytes and unpaired surrogates."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if isinstance(raw, str):
            raw = raw.encode()
        try:
            text = raw.decode((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - the body is not UTF-8 ({exc.reason})") from None
        try:
            data = json.loads(text, parse_constant=_strict_constant if self.strict else None)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        check_json_document(data, raw=raw)
        return data


def _strict_constant(value: str):
    raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")


class EdgeGuardMiddleware:
    """Refuses oversized bodies (413) and NUL / unpaired surrogates in path, query, headers and form
    bodies (400); JSON bodies are checked by GuardedJSONParser, when a view reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = self.refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def refusal(self, request) -> HttpResponse | None:
        limit = settings.API_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _respond(
                request, 400, "invalid", "The Content-Length header is not a number.", {"Content-Length": []}
            )
        if length > limit or (not length and request.method in _BODY_METHODS and len(request.body) > limit):
            return _respond(
                request,
                413,
                "payload_too_large",
                f"The body is larger than {limit} bytes; send attachments as references, or split a batch.",
                {"max_bytes": limit},
            )
        if bad_text(request.path):
            return _respond(
                request, 400, "invalid", f"The request is not valid — path: {BAD_TEXT}.", {"path": [BAD_TEXT]}
            )
        for name, values in request.GET.lists():
            if bad_text(name) or any(bad_text(v) for v in values):
                where = f"query.{name}" if not bad_text(name) else "query"
                return _respond(
                    request, 400, "invalid", f"The request is not valid — {where}: {BAD_TEXT}.", {where: [BAD_TEXT]}
                )
        if request.method in _BODY_METHODS and request.content_type in _FORM_TYPES:
            for name, values in request.POST.lists():  # the token endpoint, the admin, the login form
                if bad_text(name) or any(bad_text(v) for v in values):
                    where = name if not bad_text(name) else "body"
                    return _respond(
                        request, 400, "invalid", f"The request is not valid — {where}: {BAD_TEXT}.", {where: [BAD_TEXT]}
                    )
        for key, value in request.META.items():
            if key.startswith("HTTP_") and bad_text(value):
                header = key[5:].replace("_", "-").title()
                where = f"header.{header}"
                return _respond(
                    request, 400, "invalid", f"The request is not valid — {where}: {BAD_TEXT}.", {where: [BAD_TEXT]}
                )
        return None


def _respond(request, status: int, code: str, message: str, details: dict) -> HttpResponse:
    if request.path.startswith(("/api/", "/o/")):
        from .api import error_body  # not at import time: DRF loads this parser while importing its views

        return JsonResponse(error_body(code, message, details), status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")

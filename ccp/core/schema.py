"""drf-spectacular glue: names for nested Input/OutputSerializers, the partner OAuth2 scheme, and the
error responses every operation can answer (so the schema declares every status the API sends)."""

from __future__ import annotations

import copy

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.serializers import ListSerializer


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable snake_case code, e.g. `invalid`, `not_found`, `rate_limited`.")
    message = serializers.CharField(help_text="A sentence a caller can act on.")
    details = serializers.DictField(
        help_text="Machine-readable details; for `invalid`, the problems of each field under its name."
    )


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The single error body of the API (ccp.core.api.error_body)."""

    error = ErrorSerializer()


# A query parameter the view refuses when empty.
NON_EMPTY = {"type": "string", "minLength": 1}

RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before retrying (sent when a retry can help).",
    },
}

# Every POST accepts it (ccp.core.api.BaseApi): 1 to 255 characters once trimmed.
IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "[!-~\u00a1-\u00ff]"},
    "description": "Makes the POST safe to retry: a repeat with the same key and body returns the first "
    "response (Idempotent-Replayed: true); another body with the same key is 409 idempotency_key_reused.",
}

# The errors of the API edge (ccp.core.api), with what decides whether an operation can answer them.
ERROR_DESCRIPTIONS = {
    400: "`invalid` (per-field `details`), `malformed_json` or another refusal of bad input.",
    401: "`not_authenticated`: no, an unknown or an expired token (partners) or no session (agents).",
    403: "Authenticated but not allowed: `insufficient_scope`, `forbidden`, `not_a_member`, a missing CSRF token…",
    404: "`not_found` or a more specific `*_not_found` / `unknown_channel`: missing, or not yours (the same answer).",
    406: "`not_acceptable`: the `Accept` header excludes application/json.",
    409: "A conflict with the current state, or an `Idempotency-Key` reused with another body "
    "(`idempotency_key_reused`) or still in progress (`idempotency_request_in_progress`).",
    413: "`payload_too_large`: the body is over the size limit.",
    415: "`unsupported_media_type`: the body is not application/json.",
    429: "`rate_limited`: retry after `Retry-After` seconds.",
    501: "Not supported by this deployment, whatever the request (`reports_need_postgresql`); retrying never helps.",
    503: "`service_unavailable`: a service this request needs is down or not configured; retry after `Retry-After`.",
}


class CcpAutoSchema(AutoSchema):
    """Components of nested serializers are named after their API class (PackageListCreateApi.InputSerializer
    → PackageListCreateInput), so the HackSoft per-API serializers do not collide in the schema.

    Every operation also declares the error responses it can answer, all with the one error envelope:
    the edge's (400, 401, 403, 406, 503), 404 where the path names an object, 409 on POST
    (`Idempotency-Key`), 413/415 where there is a request body, 429 where the view throttles, plus
    the statuses the view lists in `error_statuses` (a tuple, or a dict by lower-case method).

    A request serializer may carry `openapi_extra`, JSON schema merged into its component, for the
    rules a field-by-field serializer cannot state (exactly one of two fields, a non-empty list…), so
    that a request valid by the schema is one the view accepts.
    """

    def _get_parameters(self):
        parameters = super()._get_parameters()
        if self.method == "POST":
            parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        return parameters

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # a body with rules (at least one of text/attachments…) must be sent, even with no required field
        return schema, required or bool(getattr(serializer, "openapi_extra", None))

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        extra = getattr(serializer, "openapi_extra", None)
        if extra and direction == "request":
            schema = _merged(schema, extra)
        return schema

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        target = serializer.child if isinstance(serializer, ListSerializer) else serializer
        qualname = type(target).__qualname__
        if "." in qualname:
            outer = qualname.split(".")[0].removesuffix("Api")
            return f"{outer}{name}"
        return name

    def error_statuses(self) -> set[int]:
        statuses = {400, 401, 403, 406, 503}
        if "{" in self.path:
            statuses.add(404)
        if self.method == "POST":
            statuses.add(409)
        if self.method in ("POST", "PUT", "PATCH") and self._get_request_body() is not None:
            statuses |= {413, 415}
        if self.view.get_throttles():
            statuses.add(429)
        extra = getattr(self.view, "error_statuses", ())
        if isinstance(extra, dict):
            extra = extra.get(self.method.lower(), ())
        return statuses | set(extra)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in sorted(self.error_statuses()):
            if str(status) in responses:
                continue
            response = self._get_response_for_code(
                OpenApiResponse(ErrorEnvelopeSerializer, description=ERROR_DESCRIPTIONS.get(status, "An error.")),
                str(status),
                media_types=["application/json"],
            )
            if status in (429, 503):
                response["headers"] = dict(RETRY_AFTER)
            responses[str(status)] = response
        return responses


class declared:
    """`openapi_extra = declared(fn)`: the JSON schema `fn()` builds (from settings) each time the
    OpenAPI document is made, so the document shows the declaration the view checks with."""

    def __init__(self, build):
        self.build = build

    def __get__(self, instance, owner=None) -> dict:
        return self.build()


def _merged(schema: dict, extra: dict) -> dict:
    out = copy.deepcopy(schema)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class PartnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ccp.packages.api.base.PartnerTokenAuthentication"
    name = "partnerOAuth2"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "Client credentials of a partner's connected app (POST /o/token/).",
            "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": dict(settings.PARTNER_SCOPES)}},
        }

    def get_security_requirement(self, auto_schema):
        scopes = list(getattr(auto_schema.view, "required_scopes", []) or [])
        return {self.name: scopes}

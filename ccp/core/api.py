"""The API edge shared by every app: the error envelope, domain-error mapping, Idempotency-Key.

Every error leaves the API as `{"error": {"code", "message", "details"}}` with a stable code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder as DRFJSONEncoder
from rest_framework.views import APIView

from . import errors
from .db import is_retryable_conflict, retry_on_conflict
from .models import IdempotencyKey

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"

_FAMILY_STATUS: list[tuple[type[errors.DomainError], int]] = [
    (errors.Invalid, 400),
    (errors.NotFound, 404),
    (errors.Forbidden, 403),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (errors.NotSupported, 501),
    (errors.ServiceUnavailable, 503),
]


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(code: str, message: str, http_status: int, details: Any = None) -> Response:
    return Response(error_body(code, message, details), status=http_status)


def status_for(exc: errors.DomainError) -> int:
    for family, http_status in _FAMILY_STATUS:
        if isinstance(exc, family):
            return http_status
    return 400


def _flatten_validation(detail: Any) -> Any:
    """DRF's nested ErrorDetail structure -> plain lists/dicts of sentences."""
    if isinstance(detail, dict):
        return {str(k): _flatten_validation(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten_validation(v) for v in detail]
    return str(detail)


def _first_sentence(details: Any) -> str:
    if isinstance(details, dict):
        for field, value in details.items():
            inner = _first_sentence(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(details, list) and details:
        return _first_sentence(details[0])
    return str(details)


def _backend_errors() -> tuple[type[BaseException], ...]:
    """Failures of PostgreSQL or Redis (down, restarting, connection cut mid-request): not the
    caller's fault and not a bug, so 503 + Retry-After rather than 500. The request's transaction
    was rolled back with its connection; the next request opens a fresh one."""
    from django.db import InterfaceError, OperationalError
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError, BrokerError)


def service_unavailable_body(exc: BaseException) -> dict | None:
    """The 503 envelope when `exc` is a database/Redis outage, else None (logged: operators need it)."""
    if not isinstance(exc, _backend_errors()):
        return None
    if is_retryable_conflict(exc):  # a deadlock not retried at the boundary (inside an outer transaction)
        retry = {"retry_after": settings.SERVICE_UNAVAILABLE_RETRY_AFTER}
        return error_body(errors.RetryLater.code, errors.RetryLater.default_message, retry)
    logger.warning("backend unavailable: %s: %s", exc.__class__.__name__, str(exc)[:300])
    return error_body(
        "service_unavailable",
        f"The database or cache is unavailable for a moment; retry in {settings.SERVICE_UNAVAILABLE_RETRY_AFTER} s "
        f"(with the same entry ids or Idempotency-Key).",
        {"retry_after": settings.SERVICE_UNAVAILABLE_RETRY_AFTER},
    )


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: map every exception to the error envelope."""
    unavailable = service_unavailable_body(exc)
    if unavailable is not None:
        response = Response(unavailable, status=503)
        response["Retry-After"] = str(settings.SERVICE_UNAVAILABLE_RETRY_AFTER)
        return response
    if isinstance(exc, errors.DomainError):
        response = error_response(exc.code, exc.message, status_for(exc), exc.details)
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        return error_response("not_found", "Not found.", 404)
    if isinstance(exc, DjangoPermissionDenied):
        return error_response("forbidden", "You are not allowed to do this.", 403)
    if isinstance(exc, drf_exceptions.ValidationError):
        details = _flatten_validation(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details if isinstance(details, list) else [details]}
        return error_response("invalid", f"The request is not valid — {_first_sentence(details)}", 400, details)
    if isinstance(exc, drf_exceptions.ParseError):
        return error_response("malformed_json", f"The body is not valid JSON: {exc.detail}", 400)
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return error_response("unsupported_media_type", "Send the body as application/json.", 415)
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        response = error_response(
            "not_authenticated",
            "Authentication is required: send 'Authorization: Bearer <token>' with a valid, unexpired "
            "token from POST /o/token/ (or log in, for the agent API).",
            401,
        )
        view, request = context.get("view"), context.get("request")
        header = view.get_authenticate_header(request) if view is not None and request is not None else None
        response["WWW-Authenticate"] = header or 'Bearer realm="api"'
        return response
    if isinstance(exc, drf_exceptions.PermissionDenied):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "forbidden"
        if code == "permission_denied":
            code = "forbidden"
        return error_response(code, str(exc.detail), 403)
    if isinstance(exc, drf_exceptions.NotFound):
        return error_response("not_found", "Not found.", 404)
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return error_response("method_not_allowed", str(exc.detail), 405)
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return error_response("not_acceptable", str(exc.detail), 406)
    if isinstance(exc, drf_exceptions.Throttled):
        wait = int(exc.wait or 1)
        response = error_response("rate_limited", f"Too many requests; retry in {wait} s.", 429, {"retry_after": wait})
        response["Retry-After"] = str(wait)
        return response
    if isinstance(exc, drf_exceptions.APIException):
        return error_response(str(exc.get_codes()), str(exc.detail), exc.status_code)
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__ if context.get("view") else "?")
    return error_response("internal_error", "Something went wrong on our side; it has been logged.", 500)


def json_404(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "No such endpoint or object."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_500(request):
    # Django calls this inside its `except` block: an outage raised outside a DRF view (a
    # middleware reading the session, the session save) is a 503 as well, never a 500.
    unavailable = service_unavailable_body(sys.exc_info()[1]) if sys.exc_info()[1] is not None else None
    if unavailable is not None:
        if request.path.startswith("/api/"):
            response = JsonResponse(unavailable, status=503)
        else:
            response = HttpResponse(unavailable["error"]["message"], status=503, content_type="text/plain")
        response["Retry-After"] = str(settings.SERVICE_UNAVAILABLE_RETRY_AFTER)
        return response
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("internal_error", "Something went wrong on our side."), status=500)
    from django.views.defaults import server_error

    return server_error(request)


_JSON_TYPE_NAMES = {"list": "an array", "str": "a string", "int": "a number", "float": "a number", "bool": "a boolean"}
_JSON_TYPE_NAMES["NoneType"] = "null"


def body_must_be_object(data: Any) -> None:
    """The API's bodies are JSON objects; a list or a scalar is a 400 naming the type it got."""
    if not isinstance(data, dict):
        got = _JSON_TYPE_NAMES.get(type(data).__name__, type(data).__name__)
        raise errors.Invalid(
            f"The request is not valid — body: must be a JSON object, not {got}.",
            code="invalid",
            details={"body": [f"must be a JSON object, not {got}"]},
        )


class _Replay(Exception):
    def __init__(self, record: IdempotencyKey):
        self.record = record


class BaseApi(APIView):
    """Base of every API view: error envelope and `Idempotency-Key` handling for POSTs.

    A write whose transaction lost a deadlock or serialization conflict is run again, whole
    (`ccp.core.db.retry_on_conflict`), and answers 503 `retry_later` if it keeps losing.

    A POST with the header is recorded (owner, key, body hash) before the view runs, in its own
    committed row, so a concurrent duplicate sees it; the first response is stored and replayed.
    """

    _idempotency_record: IdempotencyKey | None = None
    RETRIED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def idempotency_owner(self, request) -> str:
        return f"user:{request.user.pk}"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        handler_name = request.method.lower()
        if request.method in self.RETRIED_METHODS and hasattr(self, handler_name):
            # the handler owns the request's transactions: one that lost a deadlock runs again (ccp.core.db)
            setattr(self, handler_name, retry_on_conflict(getattr(self, handler_name)))
        self._idempotency_record = None
        # The body is parsed and its shape checked here, before the view: a bad body is reported
        # before anything the view would do (a missing dependency, a half-done write).
        if request.method in ("POST", "PUT", "PATCH"):
            body_must_be_object(request.data)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method == "POST" and key is not None:
            self._idempotency_begin(request, key)

    def _idempotency_begin(self, request, key: str) -> None:
        key = key.strip()
        if not key or len(key) > 255:
            raise errors.Invalid("Idempotency-Key must be 1 to 255 characters.", code="invalid_idempotency_key")
        owner = self.idempotency_owner(request)
        digest = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + request.body)
        request_hash = digest.hexdigest()
        expired_before = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
        IdempotencyKey.objects.filter(owner=owner, key=key, created_at__lt=expired_before).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    owner=owner, key=key, request_hash=request_hash, path=request.path[:500]
                )
        except IntegrityError:
            # an expired row is no answer, even if the prune has not removed it yet
            existing = IdempotencyKey.objects.filter(owner=owner, key=key, created_at__gte=expired_before).first()
            if existing is None:  # removed between our insert and read: the first request failed
                raise errors.Conflict(
                    "A request with this Idempotency-Key just failed; retry.",
                    code="idempotency_request_in_progress",
                ) from None
            if existing.request_hash != request_hash:
                raise errors.Conflict(
                    "This Idempotency-Key was already used with a different request body.",
                    code="idempotency_key_reused",
                ) from None
            if existing.status_code is None:
                raise errors.Conflict(
                    "A request with this Idempotency-Key is still being processed; retry shortly.",
                    code="idempotency_request_in_progress",
                ) from None
            raise _Replay(existing) from None
        self._idempotency_record = record

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            response = Response(exc.record.response_body, status=exc.record.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record = self._idempotency_record
        if record is not None:
            self._idempotency_record = None
            if response.status_code >= 500:
                record.delete()  # a failure is not a result: let the caller retry
            else:
                self._idempotency_complete(record, response)
        return response

    def _idempotency_complete(self, record: IdempotencyKey, response) -> None:
        """Store the response as the caller got it: the JSON the renderer produced (datetimes, UUIDs and
        decimals as strings), so a replay carries the same JSON values. If it cannot be stored,
        the key is released rather than left "in progress" for a day."""
        try:
            data = getattr(response, "data", None)
            record.response_body = None if data is None else json.loads(json.dumps(data, cls=DRFJSONEncoder))
            record.status_code = response.status_code
            record.completed_at = timezone.now()
            record.save(update_fields=["status_code", "response_body", "completed_at"])
        except Exception:
            logger.exception("could not store the idempotent response for key %s; releasing it", record.key)
            IdempotencyKey.objects.filter(pk=record.pk).delete()


__all__ = ["BaseApi", "error_body", "error_response", "exception_handler", "status"]

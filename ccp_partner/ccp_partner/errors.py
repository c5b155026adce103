"""Exceptions raised by the SDK. Every API error carries the platform's stable error `code`."""

from __future__ import annotations

from typing import Any


class CcpError(Exception):
    """An error answered by the platform (or the transport): HTTP status + the error envelope.

    `status` is the HTTP status (None when no response arrived), `code` the envelope's snake_case
    code (`invalid_manifest`, `unknown_channel`, …), `details` its per-field details.
    """

    def __init__(self, status: int | None, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(f"{status or '-'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.retry_after: float | None = None


class ValidationError(CcpError):
    """400: the request (or manifest) is not valid; `details` lists the problems per field."""


class AuthenticationError(CcpError):
    """401: missing, invalid or expired credentials (also a refused client id / secret at /o/token/)."""


class PermissionDenied(CcpError):
    """403: e.g. `insufficient_scope`, `consent_denied`, `not_routing_owner`, `not_consent_owner`."""


class NotFound(CcpError):
    """404: missing, or not reachable by this partner (the platform does not tell the two apart)."""


class Conflict(CcpError):
    """409: e.g. `idempotency_key_reused`, `installation_inactive`, `agent_unavailable`."""


class Gone(CcpError):
    """410: e.g. `replay_expired` (details carry the earliest retained event id)."""


class RateLimited(CcpError):
    """429 after the retries ran out; `retry_after` holds the server's last `Retry-After` in seconds."""


class ServerError(CcpError):
    """5xx after the retries ran out."""


class TransportError(CcpError):
    """No HTTP response (connection refused, reset, timeout) after the retries ran out."""


_BY_STATUS: dict[int, type[CcpError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    410: Gone,
    429: RateLimited,
}


def error_class_for(status: int) -> type[CcpError]:
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, CcpError)

"""The websocket Origin check: a browser page may open our sockets only from our own origin.

Channels' AllowedHostsOriginValidator compares the Origin's host with ALLOWED_HOSTS and ignores
scheme and port, so a page on `http://localhost:8080` (another local app) could open an agent's
socket on `localhost:8000` with the agent's cookies. Here the Origin must equal, in scheme, host
and port, the origin of the request itself (its Host header, on http/https as the connection is
ws/wss — or https behind a proxy that sets SECURE_PROXY_SSL_HEADER), or one of
CSRF_TRUSTED_ORIGINS exactly. The Host itself must be one of ALLOWED_HOSTS.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalized(scheme: str, host: str, port: int | None) -> tuple[str, str, int] | None:
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower().strip("[]"), port or DEFAULT_PORTS[scheme]


def parse_origin(value: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(value.strip())
        return _normalized(parts.scheme, parts.hostname or "", parts.port)
    except ValueError:
        return None


def _headers(scope) -> dict[bytes, str]:
    out = {}
    for name, value in scope.get("headers", []):
        try:
            out[name.lower()] = value.decode("latin1")
        except UnicodeDecodeError:
            continue
    return out


def _is_secure(scope, headers: dict[bytes, str]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name, expected = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        return headers.get(header, "").split(",")[0].strip() == expected
    return False


def origin_allowed(scope) -> bool:
    headers = _headers(scope)
    origin = parse_origin(headers.get(b"origin", ""))
    if origin is None:
        return False
    trusted = {parse_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}
    if origin in trusted:
        return True
    scheme = "https" if _is_secure(scope, headers) else "http"
    host_header = headers.get(b"host")
    if host_header is None:
        # No Host (only in-process test communicators): an allowed host on the default port.
        own = _normalized(scheme, origin[1], None)
        return origin == own and validate_host(origin[1], settings.ALLOWED_HOSTS)
    domain, port = split_domain_port(host_header)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    return origin == _normalized(scheme, domain, int(port) if port else None)


class SameOriginValidator:
    """ASGI middleware for websockets: deny the handshake unless `origin_allowed`."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator guards websocket connections only")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

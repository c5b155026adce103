"""Webhook connections go to the address that was checked, not to whatever DNS answers next.

`webhook_url_check` resolves the host and refuses private, loopback and link-local addresses. If
`requests` then resolved the name again, a DNS server answering a public address to the check
and 127.0.0.1 or 169.254.169.254 a second later (DNS rebinding) would steer the POST inside our
network. `PinnedAddressAdapter` connects to the address pinned for the host, and keeps the name
for everything else: the Host header, TLS SNI and certificate verification. A host with no pinned
address is refused, never resolved.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

DEFAULT_PORTS = {"http": 80, "https": 443}


def _target(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").rstrip(".").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


class PinnedAddressAdapter(HTTPAdapter):
    """A requests adapter that sends each request to the address pinned for its (host, port)."""

    def __init__(self, *args, **kwargs):
        self._pins: dict[tuple[str, int], str] = {}
        super().__init__(*args, **kwargs)

    def pin(self, url: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | str) -> None:
        _, host, port = _target(url)
        self._pins[(host, port)] = str(ipaddress.ip_address(str(address)))

    def pinned(self, url: str) -> str | None:
        _, host, port = _target(url)
        return self._pins.get((host, port))

    def send(self, request, *args, **kwargs):
        if self.pinned(request.url) is None:
            raise requests.ConnectionError(f"no checked address pinned for {urlsplit(request.url).hostname}")
        # the name, not the address, is what the server expects to see
        request.headers["Host"] = urlsplit(request.url).netloc.rsplit("@", 1)[-1]
        return super().send(request, *args, **kwargs)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        scheme, host, port = _target(request.url)
        if scheme == "https":
            pool_kwargs["server_hostname"] = host  # SNI
            pool_kwargs["assert_hostname"] = host  # the certificate must name the host, not the IP
        # no proxies: a pinned connection is direct by definition (the sender sets trust_env=False)
        return self.poolmanager.connection_from_host(
            scheme=host_params["scheme"], host=self.pinned(request.url), port=port, pool_kwargs=pool_kwargs
        )


def pinned_session() -> requests.Session:
    """A session whose http and https requests go only to pinned addresses."""
    session = requests.Session()
    session.trust_env = False  # never through an environment proxy
    adapter = PinnedAddressAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def session_pin(session: requests.Session, url: str, addresses: Sequence) -> None:
    """Pin `url`'s host to the first of the addresses that were just checked (all of them passed)."""
    adapter = session.get_adapter(url)
    if isinstance(adapter, PinnedAddressAdapter) and addresses:
        adapter.pin(url, addresses[0])

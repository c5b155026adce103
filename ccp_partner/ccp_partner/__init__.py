"""ccp_partner — the Python SDK of the ccp partner API (see README.md)."""

__version__ = "0.1.0"

from .client import Client
from .errors import (
    AuthenticationError,
    CcpError,
    Conflict,
    Gone,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
)
from .sse import SSEParser, StreamEvent
from .webhooks import (
    Deduplicator,
    DedupStore,
    InvalidSignature,
    MemoryStore,
    RedisStore,
    compute_signature,
    signature_headers,
    verify_signature,
)

__all__ = [
    "AuthenticationError",
    "CcpError",
    "Client",
    "Conflict",
    "DedupStore",
    "Deduplicator",
    "Gone",
    "InvalidSignature",
    "MemoryStore",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RedisStore",
    "SSEParser",
    "ServerError",
    "StreamEvent",
    "TransportError",
    "ValidationError",
    "__version__",
    "compute_signature",
    "signature_headers",
    "verify_signature",
]

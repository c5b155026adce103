"""The AsyncAPI 3 document of the event surface: webhooks and the Server-Sent Events stream.

Built from the payload declarations (ccp/events/payloads.py), so the document, the docs page and what
the platform publishes cannot drift apart. Served at `GET /api/v1/events/asyncapi.json`.
"""

from __future__ import annotations

from .choices import STANDARD_EVENT_TYPES
from .payloads import EVENT_PAYLOAD_SCHEMAS, envelope_schema

WEBHOOK_HEADERS = {
    "type": "object",
    "properties": {
        "CCP-Event-Id": {"type": "string", "description": "The replay id; deliveries are at least once: dedupe on it."},
        "CCP-Timestamp": {"type": "string", "description": "Unix seconds when the attempt was signed."},
        "CCP-Signature": {
            "type": "string",
            "description": 'v1=<hex HMAC-SHA256(subscription secret, "<timestamp>.<raw body>")>',
        },
        "CCP-Delivery-Id": {"type": "string", "description": "The delivery, as in the deliveries list."},
    },
    "required": ["CCP-Event-Id", "CCP-Timestamp", "CCP-Signature", "CCP-Delivery-Id"],
}


def _message_key(type_: str) -> str:
    return type_.replace(".", "_")


def asyncapi_document(*, host: str, protocol: str = "https") -> dict:
    """The document for a platform reached at `host` (e.g. ccp.example.com)."""
    messages = {
        _message_key(type_): {
            "name": type_,
            "title": type_,
            "summary": description,
            "contentType": "application/json",
            "payload": envelope_schema(type_),
        }
        for type_, description in STANDARD_EVENT_TYPES.items()
    }
    webhook_messages = {key: {**message, "headers": WEBHOOK_HEADERS} for key, message in messages.items()}
    refs = {key: {"$ref": f"#/components/messages/{key}"} for key in messages}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ccp platform events",
            "version": "1",
            "description": (
                "Every event a partner may receive: by signed webhook (POST /api/v1/subscriptions/), by "
                "replay (GET /api/v1/events/?after=) or live on the Server-Sent Events stream. The envelope "
                "is the same everywhere; `data` follows the declared schema of its type. A package's custom "
                "platform event types (Name__e) follow the JSON schema of their manifest."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "platform": {
                "host": host,
                "protocol": protocol,
                "pathname": "/api/v1",
                "description": "Bearer token of a connected app with scope `events` (OAuth2 client credentials).",
            }
        },
        "channels": {
            "webhook": {
                "address": "{subscriptionUrl}",
                "title": "Webhook deliveries",
                "description": "ccp POSTs each event to the subscription's URL, signed; any 2xx acknowledges it.",
                "parameters": {"subscriptionUrl": {"description": "The url of the partner's subscription."}},
                "messages": {key: {"$ref": f"#/components/messages/webhook_{key}"} for key in messages},
            },
            "stream": {
                "address": "/events/stream/",
                "title": "Server-Sent Events stream",
                "description": (
                    "text/event-stream: `id:` is the replay id, `data:` the envelope; resumes after "
                    "Last-Event-ID or ?after=; a `: heartbeat` comment after 15 s of silence."
                ),
                "servers": [{"$ref": "#/servers/platform"}],
                "messages": refs,
            },
        },
        "operations": {
            "receiveWebhook": {
                "action": "receive",
                "channel": {"$ref": "#/channels/webhook"},
                "summary": "A partner's endpoint receives an event.",
                "messages": [{"$ref": f"#/channels/webhook/messages/{key}"} for key in messages],
            },
            "receiveStream": {
                "action": "receive",
                "channel": {"$ref": "#/channels/stream"},
                "summary": "A partner reads the live stream.",
                "messages": [{"$ref": f"#/channels/stream/messages/{key}"} for key in messages],
            },
        },
        "components": {
            "messages": {**messages, **{f"webhook_{k}": m for k, m in webhook_messages.items()}},
            "schemas": dict(EVENT_PAYLOAD_SCHEMAS),
        },
    }

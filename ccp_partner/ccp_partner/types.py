"""Shapes of the main responses (PARTNER_API.md). The platform may add fields; these name the contract's.

Responses are returned as the decoded JSON (plain dicts), typed with these TypedDicts; `total=False`
because a client must keep working when the platform adds or omits optional fields.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

AgentStatus = Literal["online", "busy", "away", "offline"]
ConsentStatus = Literal["opt_in", "opt_out"]
EntryType = Literal["message", "typing_started", "typing_stopped", "delivered", "read", "delivery_failed"]


class Partner(TypedDict, total=False):
    id: str
    partner_identifier: str
    name: str
    type: str
    connected_app: str
    scopes: list[str]


class ChannelDefinition(TypedDict, total=False):
    developer_name: str
    label: str
    channel_types: list[str]
    routing_owner: str
    consent_owner: str
    capabilities: dict[str, bool]
    connector_url: str


class Package(TypedDict, total=False):
    id: str
    name: str
    version: str
    description: str
    status: str
    developer_name: str
    channel_definition: ChannelDefinition
    connected_app: str | None
    manifest: dict[str, Any]
    created_at: str
    updated_at: str
    published_at: str | None


class Channel(TypedDict, total=False):
    channel_address_id: str
    channel_key: str
    name: str
    type: str
    entity: str
    is_active: bool
    tenant: str
    developer_name: str
    package_version: str
    installation_status: str
    authorization_link: str


class Capacity(TypedDict, total=False):
    max: int
    used: int


class Agent(TypedDict, total=False):
    id: str
    name: str
    status: str
    skills: list[Any]
    capacity: dict[str, Capacity]


class Attachment(TypedDict, total=False):
    url: str
    content_type: str
    name: str
    size: int


class Entry(TypedDict, total=False):
    id: str
    type: EntryType
    text: str
    attachments: list[Attachment]
    timestamp: str
    message_id: str
    reason: str
    subject: str  # an e-mail's subject line
    html: str  # an e-mail's HTML body (sanitized by the platform on arrival)


class EntryResult(TypedDict, total=False):
    id: str
    message_id: str
    duplicate: bool


class InteractionResult(TypedDict, total=False):
    conversation_id: str
    session_id: str
    entries: list[EntryResult]


class Conversation(TypedDict, total=False):
    id: str
    status: str
    channel_address_id: str
    end_user: Any
    routing_owner: str
    subject: str
    thread: str
    session_id: str
    participants: list[Any]
    work: Any


class RouteResult(TypedDict, total=False):
    work_id: str
    status: str
    expires_at: str


class Consent(TypedDict, total=False):
    status: str
    allowed_outbound: bool
    owner: str
    updated_at: str


class Event(TypedDict, total=False):
    id: int
    type: str
    tenant: str
    occurred_at: str
    data: dict[str, Any]


class EventPage(TypedDict, total=False):
    events: list[Event]
    next_after: int | None


class Subscription(TypedDict, total=False):
    id: str
    url: str
    event_types: list[str]
    secret: str


class Delivery(TypedDict, total=False):
    id: str
    status_code: int | None
    error: str
    created_at: str

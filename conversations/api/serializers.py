from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..services.inbound import ENTRY_TYPES, MAX_ENTRIES, RECEIPTS
from ..services.payloads import MAX_ATTACHMENTS

# The JSON schemas below state what the message services check, so that a request valid by the
# OpenAPI schema is one they accept (tests/test_schemathesis.py holds the two together).

# What str.strip() removes: a text made only of these is empty to the message services.
_NOT_SPACE = "[^\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
TEXT_SCHEMA = {"type": "string", "maxLength": settings.MESSAGE_MAX_CHARS}
ATTACHMENTS_SCHEMA = {
    "type": "array",
    "maxItems": MAX_ATTACHMENTS,
    "items": {
        "type": "object",
        "required": ["url"],
        "properties": {
            # an http(s) URL with a host, as urllib.parse reads it (no brackets but an IPv6 literal's)
            "url": {
                "type": "string",
                "pattern": "^[hH][tT][tT][pP][sS]?://[^/?#\\[\\]\t\r\n][^/?#\\[\\]]*([/?#][\\s\\S]*)?$",
            },
            "content_type": {"type": "string"},
            "name": {"type": "string"},
            "size": {"type": "integer", "minimum": 0, "maximum": settings.ATTACHMENT_MAX_BYTES},
        },
    },
}
# Something to send: non-blank text or at least one attachment.
SOMETHING_TO_SEND = [
    {"required": ["text"], "properties": {"text": {"pattern": _NOT_SPACE}}},
    {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
]

# The agent's reply (merged into AgentMessagesApi.InputSerializer's component).
MESSAGE_SCHEMA = {
    "properties": {"text": TEXT_SCHEMA, "attachments": ATTACHMENTS_SCHEMA},
    "anyOf": SOMETHING_TO_SEND,
}

_ENTRY_ID = {"type": "string", "minLength": 1, "maxLength": 200, "description": "Your id of the entry"}
_TIMESTAMP = {"type": "string", "format": "date-time"}
ENTRIES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_ENTRIES,
    "items": {
        "oneOf": [
            {
                "type": "object",
                "description": "An end user's message; `id` makes re-sending safe.",
                "required": ["type", "id"],
                "properties": {
                    "type": {"type": "string", "enum": ["message"]},
                    "id": _ENTRY_ID,
                    "text": TEXT_SCHEMA,
                    "attachments": ATTACHMENTS_SCHEMA,
                    "timestamp": _TIMESTAMP,
                    "subject": {
                        "type": "string",
                        "maxLength": settings.MESSAGE_SUBJECT_MAX_CHARS,
                        "description": "An e-mail's subject line; the conversation keeps the first one.",
                    },
                    "html": {
                        "type": "string",
                        "maxLength": settings.MESSAGE_HTML_MAX_CHARS,
                        "description": "An e-mail's HTML body; sanitized to a safe subset on arrival. Send the "
                        "plain text too: `text` is the fallback and what search and routing read.",
                    },
                },
                "anyOf": SOMETHING_TO_SEND,
            },
            {
                "type": "object",
                "description": "A receipt of one of our outbound messages.",
                "required": ["type", "message_id"],
                "properties": {
                    "type": {"type": "string", "enum": sorted(RECEIPTS)},
                    "id": _ENTRY_ID,
                    "message_id": {"type": "string"},
                    "reason": {"type": "string"},
                    "timestamp": _TIMESTAMP,
                },
            },
            {
                "type": "object",
                "description": "Typing started or stopped.",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string", "enum": [t for t in ENTRY_TYPES if t.startswith("typing_")]},
                    "id": _ENTRY_ID,
                    "timestamp": _TIMESTAMP,
                },
            },
        ]
    },
}


@extend_schema_field(ENTRIES_SCHEMA)
class EntriesField(serializers.ListField):
    """For the schema only: entries are validated as a whole by the interaction service."""


class AttachmentSerializer(serializers.Serializer):
    # as stored: the http(s) URL that was sent (not necessarily an RFC 3986 URI), the size when given
    url = serializers.CharField()
    content_type = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    size = serializers.IntegerField(required=False, min_value=0, allow_null=True)


class MessageOutput(serializers.Serializer):
    id = serializers.CharField()
    conversation_id = serializers.CharField()
    seq = serializers.IntegerField()
    direction = serializers.CharField()
    sender_type = serializers.CharField()
    sender_name = serializers.CharField()
    agent_id = serializers.CharField(allow_null=True)
    text = serializers.CharField(allow_blank=True)
    attachments = AttachmentSerializer(many=True)
    status = serializers.CharField()
    status_changed_at = serializers.DateTimeField(allow_null=True)
    failure_reason = serializers.CharField(allow_blank=True)
    partner_entry_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    subject = serializers.CharField(allow_blank=True, help_text="An e-mail's subject line; empty for chat.")
    html = serializers.CharField(allow_blank=True, help_text="An e-mail's HTML body, sanitized on arrival.")


class ParticipantOutput(serializers.Serializer):
    agent_id = serializers.CharField()
    name = serializers.CharField()
    joined_at = serializers.DateTimeField()
    left_at = serializers.DateTimeField(allow_null=True)
    leave_reason = serializers.CharField(allow_blank=True)


class WorkOutput(serializers.Serializer):
    work_id = serializers.CharField()
    agent_id = serializers.CharField()
    status = serializers.CharField()
    engine = serializers.CharField()
    offered_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    acw_ends_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    is_transfer = serializers.BooleanField()


class ContactOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(allow_blank=True)


class ConversationOutput(serializers.Serializer):
    id = serializers.CharField()
    tenant = serializers.CharField()
    status = serializers.CharField()
    channel_address_id = serializers.CharField()
    end_user = serializers.CharField()
    contact = ContactOutput()
    routing_owner = serializers.CharField()
    subject = serializers.CharField(allow_blank=True, help_text="An e-mail conversation's subject; empty for chat.")
    thread = serializers.CharField(allow_blank=True, help_text="The partner's thread key it was opened with, if any.")
    initiated_by = serializers.CharField()
    session_id = serializers.CharField(allow_null=True)
    participants = ParticipantOutput(many=True)
    work = WorkOutput(many=True)
    created_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)


class StatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["online", "busy", "away", "offline"])


class WorkAnswer(serializers.Serializer):
    work_id = serializers.CharField()
    status = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)

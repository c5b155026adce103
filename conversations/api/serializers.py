from rest_framework import serializers


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
    sla = serializers.JSONField(
        allow_null=True,
        help_text="The most urgent running SLA clock: {target, due_at, warn_at, state: ok|warning|breached}.",
    )


class StatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["online", "busy", "away", "offline"])


class WorkAnswer(serializers.Serializer):
    work_id = serializers.CharField()
    status = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)

import uuid

from django.db import models
from django.db.models import Q

from ccp.packages.choices import Owner
from ccp.packages.models import Partner
from routing.models import AgentWork
from tenants.models import Channel, Membership, Tenant

from .choices import OPEN_STATUSES, ConversationStatus, Direction, MessageStatus, SenderType


class Contact(models.Model):
    """A person the tenant talks to, across channels."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True, help_text="Personal data removed on request.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name or str(self.id)[:8]


class EndUserAddress(models.Model):
    """A contact's address on one channel (a phone number, a chat visitor id…)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="addresses")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="end_user_addresses")
    address = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="uniq_address_per_channel")]

    def __str__(self) -> str:
        return self.address


class Conversation(models.Model):
    """A conversation between a contact and the tenant on one channel, from first message to close."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="conversations")
    channel = models.ForeignKey(Channel, null=True, on_delete=models.SET_NULL, related_name="conversations")
    partner = models.ForeignKey(Partner, null=True, on_delete=models.SET_NULL, related_name="+")
    channel_address_id = models.CharField(max_length=200, help_text="Kept when the channel is uninstalled.")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    end_user = models.ForeignKey(EndUserAddress, null=True, on_delete=models.SET_NULL, related_name="conversations")
    end_user_address = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.ROUTING)
    routing_owner = models.CharField(max_length=16, choices=Owner.choices, default=Owner.PLATFORM)
    initiated_by = models.CharField(max_length=16, choices=SenderType.choices, default=SenderType.END_USER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.BigIntegerField(default=0, help_text="The seq of the newest message.")
    closed_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(
        max_length=998, blank=True, help_text="An e-mail's subject: the first inbound message's that has one."
    )
    thread_key = models.CharField(
        max_length=200, blank=True, default="", help_text="The partner's thread key (an e-mail thread); empty for chat."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "status"]),
            models.Index(fields=["partner", "-created_at"]),
            models.Index(fields=["tenant", "created_at"], name="conversation_tenant_created"),  # reports
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "end_user_address", "thread_key"],
                condition=Q(status__in=OPEN_STATUSES),
                name="one_open_conversation_per_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.end_user_address} on {self.channel_address_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status != ConversationStatus.CLOSED


class Session(models.Model):
    """A messaging session of a conversation (FIG 12): what is routed to an agent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sessions")
    is_open = models.BooleanField(default=True)
    flow_state = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            models.UniqueConstraint(fields=["conversation"], condition=Q(is_open=True), name="one_open_session")
        ]

    def __str__(self) -> str:
        return f"session {str(self.id)[:8]}"


class Message(models.Model):
    """An entry of a conversation: a message either way, or a system entry (transfer, close…)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    session = models.ForeignKey(Session, null=True, on_delete=models.SET_NULL, related_name="messages")
    seq = models.BigIntegerField(help_text="Order within the conversation (1, 2, 3 …).")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    sender_type = models.CharField(max_length=16, choices=SenderType.choices)
    agent = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sender_name = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    channel_address_id = models.CharField(max_length=200)
    partner_entry_id = models.CharField(max_length=200, null=True, blank=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.RECEIVED)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the partner says it was sent (entry timestamp)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    subject = models.CharField(max_length=998, blank=True, help_text="An e-mail's subject line.")
    html = models.TextField(blank=True, help_text="The HTML body as sanitized on arrival (conversations.html).")

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            # An address id is unique in a tenant (not across tenants: each partner has its own
            # namespace), so a partner's entry id is unique per tenant and address.
            models.UniqueConstraint(
                fields=["tenant", "channel_address_id", "partner_entry_id"],
                condition=Q(partner_entry_id__isnull=False),
                name="idempotent_partner_entry_per_tenant",
            ),
            models.UniqueConstraint(fields=["conversation", "seq"], name="uniq_message_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.text[:40]}"


class Participant(models.Model):
    """An agent's part in a conversation, with join and leave times."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    agent = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="participations")
    work = models.ForeignKey(AgentWork, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    joined_at = models.DateTimeField(auto_now_add=True)
    left_at = models.DateTimeField(null=True, blank=True)
    leave_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "agent"], condition=Q(left_at__isnull=True), name="one_active_participation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent} in {self.conversation_id}"


# Voice calls live in their own module; importing them here registers them with the app.
from .models_calls import Call, CallControlRequest, CallEvent, TranscriptSegment  # noqa: E402, F401


class Note(models.Model):
    """An internal note on a conversation (for its agents) or a whisper (a supervisor to the agents).

    Kept with the conversation; never a Message, never an event of the bus: it is not published to
    the partner (webhook, replay, stream) and is not in the end user's history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(Membership, null=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=200, blank=True)
    author_role = models.CharField(max_length=16, blank=True)
    text = models.TextField()
    whisper = models.BooleanField(default=False)
    after_seq = models.BigIntegerField(default=0, help_text="The conversation's newest message when written.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "created_at"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{'whisper' if self.whisper else 'note'} on {self.conversation_id}"


class CannedResponse(models.Model):
    """A saved answer an agent inserts by its shortcut: tenant-wide (owner empty) or personal."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="canned_responses")
    owner = models.ForeignKey(
        Membership,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text="Empty: shared with the whole tenant.",
    )
    shortcut = models.SlugField(max_length=50, help_text="Typed after / in the composer.")
    title = models.CharField(max_length=200, blank=True)
    text = models.TextField(help_text="Placeholders: {{contact.name}}, {{agent.name}}, {{contact.<custom field>}}.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "shortcut"], condition=Q(owner__isnull=True), name="uniq_shared_canned_shortcut"
            ),
            models.UniqueConstraint(
                fields=["owner", "shortcut"], condition=Q(owner__isnull=False), name="uniq_personal_canned_shortcut"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


# SLA policies and clocks live in their own module too (docs/reports.md, "SLA").
from .models_sla import SlaClock, SlaPolicy  # noqa: E402, F401

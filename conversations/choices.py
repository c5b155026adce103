from django.db import models


class ConversationStatus(models.TextChoices):
    ROUTING = "routing", "Waiting for an agent"
    ACTIVE = "active", "With an agent"
    WAITING = "waiting", "Waiting (outside business hours)"
    BOT = "bot", "With a bot"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (
    ConversationStatus.ROUTING,
    ConversationStatus.ACTIVE,
    ConversationStatus.WAITING,
    ConversationStatus.BOT,
)


class Direction(models.TextChoices):
    INBOUND = "inbound", "From the end user"
    OUTBOUND = "outbound", "To the end user"
    SYSTEM = "system", "System entry"


class SenderType(models.TextChoices):
    END_USER = "end_user", "End user"
    AGENT = "agent", "Agent"
    BOT = "bot", "Bot"
    SYSTEM = "system", "System"


class MessageStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    SENT = "sent", "Sent to the partner"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Delivery failed"


# Receipts only move a message forward: sent → delivered → read; failed is final.
STATUS_RANK = {MessageStatus.SENT: 0, MessageStatus.DELIVERED: 1, MessageStatus.READ: 2, MessageStatus.FAILED: 3}

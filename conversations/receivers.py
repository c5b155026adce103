"""Conversations' answers to signals of lower apps (connected in ConversationsConfig.ready)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ccp.packages.models import PlatformEventType
from tenants.signals import installation_uninstalling

from . import services
from .choices import OPEN_STATUSES
from .models import Conversation
from .services.common import forget_outbound_types


@receiver(installation_uninstalling, dispatch_uid="conversations.open_conversations_block_uninstall")
def open_conversations_block_uninstall(sender, installation, force: bool, **kwargs) -> int:
    """How many conversations are open on the installation's channels; closes them when forced."""
    open_ = Conversation.objects.filter(channel__installation=installation, status__in=OPEN_STATUSES)
    if not force:
        return open_.count()
    for conversation in open_:
        services.conversation_close(conversation=conversation, closed_by="uninstall")
    return 0


for _signal in (post_save, post_delete):  # a package's outbound event type is cached per process
    _signal.connect(forget_outbound_types, sender=PlatformEventType, dispatch_uid=f"ccp-outbound-types-{_signal}")

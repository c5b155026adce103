"""Conversations' answers to signals of lower apps (connected in ConversationsConfig.ready)."""

from django.dispatch import receiver

from tenants.signals import installation_uninstalling

from . import services
from .choices import OPEN_STATUSES
from .models import Conversation


@receiver(installation_uninstalling, dispatch_uid="conversations.open_conversations_block_uninstall")
def open_conversations_block_uninstall(sender, installation, force: bool, **kwargs) -> int:
    """How many conversations are open on the installation's channels; closes them when forced."""
    open_ = Conversation.objects.filter(channel__installation=installation, status__in=OPEN_STATUSES)
    if not force:
        return open_.count()
    for conversation in open_:
        services.conversation_close(conversation=conversation, closed_by="uninstall")
    return 0

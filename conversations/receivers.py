"""Conversations' answers to signals of lower apps (connected in ConversationsConfig.ready)."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ccp.events.services import agent_group
from ccp.packages.models import PlatformEventType
from routing.models import Queue
from tenants.models import BusinessHours, Channel, Holiday, Membership, Tenant
from tenants.selectors import membership_for_user, membership_ids_of_tenant
from tenants.signals import installation_uninstalling

from . import services
from .choices import OPEN_STATUSES
from .models import Conversation, SlaPolicy
from .services.payloads import forget_outbound_types
from .services.sla import forget_sla_policies


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

# SLA policies (with their calendars, queues and channels) are cached per process (services/sla.py).
for _signal in (post_save, post_delete):
    for _model in (SlaPolicy, BusinessHours, Holiday, Channel, Queue):
        _signal.connect(
            forget_sla_policies, sender=_model, dispatch_uid=f"ccp-sla-policies-{_model.__name__}-{_signal}"
        )


# --- agent websockets re-check their principal when it may have ended (conversations.consumers) ---

logger = logging.getLogger(__name__)


def _recheck_sockets(membership_ids, *, ended_session: str | None = None) -> None:
    """After commit, tell the agents' open websockets to re-check their session and membership
    (`ended_session`: that session was logged out, its sockets close without asking the database)."""
    groups = [agent_group(pk) for pk in membership_ids if pk is not None]
    if not groups:
        return

    async def send(layer):
        for group in groups:
            await layer.group_send(group, {"type": "ccp.recheck", "ended_session": ended_session})

    def on_commit():
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(send)(layer)
        except Exception:  # the periodic re-check still closes them (AGENT_SOCKET_RECHECK_SECONDS)
            logger.exception("could not ask %d agent sockets to re-check", len(groups))

    transaction.on_commit(on_commit, robust=True)


@receiver(user_logged_out, dispatch_uid="conversations.logout_closes_sockets")
def logout_closes_sockets(sender, request, user, **kwargs) -> None:
    membership = membership_for_user(user=user) if user is not None else None
    if membership is not None:
        session_key = getattr(getattr(request, "session", None), "session_key", None)
        _recheck_sockets([membership.pk], ended_session=session_key)


@receiver(post_delete, sender=Membership, dispatch_uid="conversations.membership_removed_closes_sockets")
def membership_removed_closes_sockets(sender, instance, **kwargs) -> None:
    _recheck_sockets([instance.pk])


@receiver(post_save, sender=get_user_model(), dispatch_uid="conversations.user_changed_rechecks_sockets")
def user_changed_rechecks_sockets(sender, instance, created, update_fields=None, **kwargs) -> None:
    """Deactivation or a new password (which ends the user's other sessions) — not each login."""
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    membership = membership_for_user(user=instance)
    if membership is not None:
        _recheck_sockets([membership.pk])


@receiver(post_save, sender=Tenant, dispatch_uid="conversations.tenant_deactivated_closes_sockets")
def tenant_deactivated_closes_sockets(sender, instance, created, **kwargs) -> None:
    if not created and not instance.is_active:
        _recheck_sockets(membership_ids_of_tenant(tenant_id=instance.pk))


@receiver(post_save, sender=Membership, dispatch_uid="conversations.role_changed_rechecks_sockets")
def role_changed_rechecks_sockets(sender, instance, created, update_fields=None, **kwargs) -> None:
    """A member who is no longer a supervisor or admin stops monitoring at once (their sockets re-check)."""
    if created or (update_fields is not None and "role" not in update_fields):
        return
    if instance.role not in ("supervisor", "admin"):
        _recheck_sockets([instance.pk])

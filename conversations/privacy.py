"""Privacy requests about one end-user address: export everything we hold, or erase the personal data.

Consent records and their history are kept (proof of consent is a legal duty) with the address
replaced by its salted SHA-256 (consent.services.address_hash); everything else is redacted.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from consent import services as consent
from routing.models import WorkItem
from tenants.models import Tenant

from .models import Contact, Conversation, EndUserAddress, Message, Session

REDACTED = "[erased]"


def contact_export(*, address: str, tenant: Tenant | None = None) -> dict:
    """Consent records + history and the contacts' conversations and messages for `address`, as JSON data."""
    tenants = [tenant] if tenant is not None else list(Tenant.objects.order_by("slug"))
    out = []
    for t in tenants:
        contacts = Contact.objects.filter(tenant=t, addresses__address=address).distinct()
        records = consent.consent_export(tenant=t, address=address)
        if not records and not contacts:
            continue
        out.append(
            {
                "tenant": t.slug,
                "consent": records,
                "contacts": [
                    {
                        "id": str(c.id),
                        "name": c.name,
                        "addresses": [
                            {"channel_address_id": a.channel.channel_address_id, "address": a.address}
                            for a in c.addresses.select_related("channel")
                        ],
                        "conversations": [
                            {
                                "id": str(conv.id),
                                "channel_address_id": conv.channel_address_id,
                                "status": conv.status,
                                "initiated_by": conv.initiated_by,
                                "created_at": conv.created_at.isoformat(),
                                "messages": [
                                    {
                                        "seq": m.seq,
                                        "direction": m.direction,
                                        "sender_type": m.sender_type,
                                        "sender_name": m.sender_name,
                                        "text": m.text,
                                        "attachments": m.attachments,
                                        "status": m.status,
                                        "created_at": m.created_at.isoformat(),
                                    }
                                    for m in conv.messages.order_by("seq")
                                ],
                            }
                            for conv in c.conversations.order_by("created_at")
                        ],
                    }
                    for c in contacts
                ],
            }
        )
    return {"address": address, "tenants": out}


def contact_erase(*, tenant: Tenant, address: str) -> dict:
    """Remove the personal data of the contact(s) reachable at `address` in `tenant`."""
    with transaction.atomic():
        ids = set(EndUserAddress.objects.filter(tenant=tenant, address=address).values_list("contact_id", flat=True))
        contacts = list(Contact.objects.select_for_update().filter(tenant=tenant, pk__in=ids))
        addresses = list(
            EndUserAddress.objects.filter(tenant=tenant, contact__in=contacts).values_list("address", flat=True)
        )
        addresses = sorted({address, *addresses})
        conversations = Conversation.objects.filter(tenant=tenant, contact__in=contacts)
        messages = Message.objects.filter(tenant=tenant, conversation__in=conversations).update(
            text=REDACTED, attachments=[], sender_name="", failure_reason=""
        )
        for conversation in conversations.exclude(end_user_address__startswith="sha256:"):
            conversation.end_user_address = consent.address_hash(conversation.end_user_address)
            conversation.save(update_fields=["end_user_address", "updated_at"])
        sessions = [str(s) for s in Session.objects.filter(conversation__in=conversations).values_list("id", flat=True)]
        WorkItem.objects.filter(tenant=tenant, reference__in=sessions).update(attributes={})
        removed, _ = EndUserAddress.objects.filter(tenant=tenant, contact__in=contacts).delete()
        Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(name="", erased_at=timezone.now())
        hashed = sum(consent.consent_erase_address(tenant=tenant, address=a) for a in addresses)
    return {
        "contacts": len(contacts),
        "messages_redacted": messages,
        "addresses_removed": removed,
        "consent_rows_hashed": hashed,
    }

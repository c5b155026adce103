"""Privacy requests about one end-user address: export everything we hold, or erase the personal data.

Consent records and their history are kept (proof of consent is a legal duty) with the address
replaced by its salted SHA-256 (consent.services.address_hash); everything else is redacted.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ccp.audit.services import audit_record
from ccp.core.redaction import REDACTED
from ccp.core.services import idempotency_redact
from ccp.events.services import events_redact
from consent import services as consent
from consent.selectors import address_hash
from routing import services as routing
from routing.selectors import work_item_ids
from tenants.models import Tenant

from .choices import SenderType
from .models import Contact, Conversation, EndUserAddress, Message, Session


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
    """Remove the personal data of the contact(s) reachable at `address` in `tenant`, everywhere.

    Redacted in place (the records stay, so counts, routing history and replay ids stay true):
    contact name, addresses, message texts, sender names and attachments, session flow answers;
    the contact fields and quoted texts in routing's work items, decisions and feedback comments;
    event payloads (which deliveries send); stored Idempotency-Key responses; admin log entries.
    Consent records keep their history under the hashed address.
    """
    with transaction.atomic():
        ids = set(EndUserAddress.objects.filter(tenant=tenant, address=address).values_list("contact_id", flat=True))
        contacts = list(Contact.objects.select_for_update().filter(tenant=tenant, pk__in=ids))
        addresses = list(
            EndUserAddress.objects.filter(tenant=tenant, contact__in=contacts).values_list("address", flat=True)
        )
        addresses = sorted({address, *addresses})
        conversations = Conversation.objects.filter(tenant=tenant, contact__in=contacts)
        conversation_ids = [str(pk) for pk in conversations.values_list("pk", flat=True)]
        plain_addresses = list(
            conversations.exclude(end_user_address__startswith="sha256:").values_list("end_user_address", flat=True)
        )
        message_rows = Message.objects.filter(tenant=tenant, conversation__in=conversations)
        # What identifies the person in other tables, collected before it is redacted here.
        identifying = [*(c.name for c in contacts), *addresses, *plain_addresses]
        needles = [*identifying]
        references = [*(str(c.pk) for c in contacts), *conversation_ids]
        message_ids: list[str] = []
        for text, sender_type, sender_name, attachments, pk in message_rows.values_list(
            "text", "sender_type", "sender_name", "attachments", "pk"
        ):
            needles.append(text)
            if sender_type == SenderType.END_USER:
                identifying.append(sender_name)
            needles.extend(_strings(attachments))
            message_ids.append(str(pk))
        references.extend(message_ids)
        sessions = [str(s) for s in Session.objects.filter(conversation__in=conversations).values_list("id", flat=True)]
        references.extend(sessions)

        messages = message_rows.update(text=REDACTED, attachments=[], sender_name="", failure_reason="")
        for conversation in conversations.exclude(end_user_address__startswith="sha256:"):
            conversation.end_user_address = consent.address_hash(conversation.end_user_address)
            conversation.save(update_fields=["end_user_address", "updated_at"])
        Session.objects.filter(conversation__in=conversations).exclude(flow_state={}).update(flow_state={})
        routed = routing.work_items_erase(tenant=tenant, references=sessions, needles=[*identifying, *needles])
        references.extend(str(pk) for pk in work_item_ids(tenant=tenant, references=sessions))
        events = events_redact(tenant=tenant, references=references, identifying=identifying, needles=needles)
        responses = idempotency_redact(references=references, identifying=identifying, needles=needles)
        logged = _admin_log_redact(
            {
                Contact: [str(c.pk) for c in contacts],
                Conversation: conversation_ids,
                EndUserAddress: [
                    str(pk)
                    for pk in EndUserAddress.objects.filter(tenant=tenant, contact__in=contacts).values_list(
                        "pk", flat=True
                    )
                ],
                Message: message_ids,
            }
        )
        removed, _ = EndUserAddress.objects.filter(tenant=tenant, contact__in=contacts).delete()
        Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(name="", erased_at=timezone.now())
        hashed = sum(consent.consent_erase_address(tenant=tenant, address=a) for a in addresses)
    result = {
        "contacts": len(contacts),
        "messages_redacted": messages,
        "addresses_removed": removed,
        "consent_rows_hashed": hashed,
        "events_redacted": events,
        "stored_responses_redacted": responses,
        "route_decisions_redacted": routed["route_decisions"],
        "feedback_comments_redacted": routed["feedback_comments"],
        "admin_log_entries_redacted": logged,
    }
    # the log is append-only: it names the request by the hashed address, never the address itself
    audit_record(
        action="contact.erased",
        tenant=tenant,
        object_type="conversations.contact",
        object_id=",".join(str(c.pk) for c in contacts)[:64],
        object_repr=address_hash(address)[:30],
        after=result,
    )
    return result


def _strings(value) -> list[str]:
    """Every string inside a JSON value (attachment names, URLs…)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _admin_log_redact(objects: dict) -> int:
    """The admin's history names objects by their `str()`: a contact's name, an address, a text."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    changed = 0
    for model, object_ids in objects.items():
        changed += LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(model), object_id__in=object_ids
        ).update(object_repr=REDACTED, change_message="")
    return changed

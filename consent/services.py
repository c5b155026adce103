"""Writes of consent (FIG 16A) and the outbound check (FIG 16B, FIG 15 1512).

Race guarantee: every consent change and every outbound check lock the same ConsentRecord row
(`SELECT … FOR UPDATE`) inside the caller's transaction. The interaction service checks consent
and writes the outbound message's outbox event in one transaction while holding that lock, so an
opt-out either commits before the check (and the message is refused) or waits until the message's
transaction committed (and the message was sent before the opt-out existed). Lock order is always
conversation row, then consent row; consent changes lock only the consent row, so no deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from ccp.audit.services import audit_record
from ccp.core.errors import Invalid
from ccp.events.services import event_publish
from tenants.models import Channel

from . import sql
from .choices import ConsentSource, ConsentStatus
from .errors import NotConsentOwner
from .models import ConsentChange, ConsentRecord
from .selectors import Decision, address_hash, consent_owner, consent_settings, decide, erased_opt_out

SETTABLE = (ConsentStatus.OPT_IN, ConsentStatus.OPT_OUT)


def _lock_record(*, channel: Channel, address: str, erased: bool = False) -> ConsentRecord:
    """The (tenant, channel, address) record, created as unknown if missing, locked until commit.

    `erased`: also read, in the same query, whether an erased opt-out of this address exists
    (`erased_opt_out`); the record then carries it as `erased_opt_out_found`.
    Precondition: inside a transaction (the lock is what serialises checks against changes).
    """
    if erased and connection.vendor == "postgresql":
        found = sql.record_lock_with_erased(channel_id=channel.pk, address=address, hashed=address_hash(address))
    else:
        found = ConsentRecord.objects.select_for_update().filter(channel=channel, address=address).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            ConsentRecord.objects.create(
                tenant_id=channel.tenant_id, channel=channel, address=address, owner=consent_owner(channel=channel)
            )
    except IntegrityError:  # a concurrent first check or change created it: lock theirs
        pass
    return ConsentRecord.objects.select_for_update().get(channel=channel, address=address)


def consent_check_outbound(
    *, channel: Channel | None, address: str, end_user_wrote: bool, confirmation: bool = False
) -> Decision:
    """May an outbound message go to `address` now? Locks the record until the caller commits.

    `confirmation`: the one reply to a consent keyword (the STOP confirmation); allowed once.
    Precondition: inside the transaction that stores and publishes the message.
    """
    if channel is None:
        return Decision(ConsentStatus.UNKNOWN, False, "platform", None, "The channel is no longer installed.")
    record = _lock_record(channel=channel, address=address, erased=True)
    found = getattr(record, "erased_opt_out_found", None)  # absent on a record created just now
    erased = erased_opt_out(channel=channel, record=record, address=address) if found is None else found
    decision = decide(
        record=record,
        channel=channel,
        end_user_wrote=end_user_wrote,
        confirmation=confirmation,
        erased_opt_out=erased and not record.source,
    )
    if confirmation and decision.allowed and record.confirmation_due:
        record.confirmation_due = False
        record.save(update_fields=["confirmation_due"])
    return decision


def _publish_change(record: ConsentRecord, channel: Channel, change: ConsentChange) -> None:
    partner = channel.installation.package.partner if channel.installation_id else None
    event_publish(
        tenant=channel.tenant,
        type="consent.changed",
        partner=partner,
        data={
            "channel_address_id": channel.channel_address_id,
            "address": record.address,
            "status": record.status,
            "old_status": change.old_status,
            "pending_opt_in": record.pending_opt_in,
            "owner": record.owner,
            "source": change.source,
            "updated_at": record.updated_at,
        },
    )


def _change(
    record: ConsentRecord, channel: Channel, *, status: str, pending: bool, source: str, actor: str
) -> ConsentChange:
    """Apply and record one change. Precondition: `record` is locked."""
    old = record.status
    record.status = status
    record.pending_opt_in = pending
    record.source = source
    record.owner = consent_owner(channel=channel)
    record.save(update_fields=["status", "pending_opt_in", "source", "owner", "confirmation_due", "updated_at"])
    change = ConsentChange.objects.create(
        tenant_id=record.tenant_id,
        record=record,
        channel_address_id=channel.channel_address_id,
        address=record.address,
        old_status=old,
        new_status=status,
        pending_opt_in=pending,
        source=source,
        actor=actor[:200],
    )
    _publish_change(record, channel, change)
    return change


def consent_update(
    *, channel: Channel, address: str, status: str, source: str, actor: str, as_owner: str
) -> ConsentRecord:
    """FIG 16A: store a new consent value if `as_owner` (platform or partner) owns consent on the channel.

    With double opt-in (platform-owned channels), an opt-in only becomes pending until the end user
    confirms (`consent_keyword` with a confirm keyword). Setting the current value again is a no-op.
    """
    if status not in SETTABLE:
        raise Invalid("status must be opt_in or opt_out.", details={"status": ["must be opt_in or opt_out"]})
    if source not in ConsentSource.values or source == ConsentSource.CONFIRMATION:
        raise Invalid("source must be keyword, web_form, api or agent.", details={"source": ["is not a known source"]})
    if not isinstance(address, str) or not 0 < len(address) <= 300:
        raise Invalid("address must be the end user's address.", details={"address": ["is required"]})
    owner = consent_owner(channel=channel)
    if as_owner != owner:
        raise NotConsentOwner(
            f"The {owner} owns consent on channel '{channel.channel_address_id}'; the {as_owner} cannot change it."
        )
    with transaction.atomic():
        record = _lock_record(channel=channel, address=address)
        record.confirmation_due = False
        double = (
            status == ConsentStatus.OPT_IN
            and owner == "platform"
            and consent_settings(channel=channel)["double_opt_in"]
            and record.status != ConsentStatus.OPT_IN
        )
        before = {"status": record.status, "pending_opt_in": record.pending_opt_in}
        if double:
            if not record.pending_opt_in:
                _change(record, channel, status=record.status, pending=True, source=source, actor=actor)
                _audit_agent_change(record, channel, source, before)
            return record
        if record.status == status and not record.pending_opt_in:
            return record
        _change(record, channel, status=status, pending=False, source=source, actor=actor)
        _audit_agent_change(record, channel, source, before)
        return record


def _audit_agent_change(record: ConsentRecord, channel: Channel, source: str, before: dict) -> None:
    """A consent change made by an agent goes to the audit log, the address hashed (the log is
    append-only, so it must hold nothing an erase request would have to remove)."""
    if source != ConsentSource.AGENT:
        return
    audit_record(
        action="consent.changed_by_agent",
        tenant=channel.tenant,
        object_type="consent.consentrecord",
        object_id=str(record.pk),
        object_repr=f"{channel.channel_address_id} {address_hash(record.address)[:23]}",
        before=before,
        after={"status": record.status, "pending_opt_in": record.pending_opt_in},
    )


@dataclass(frozen=True)
class KeywordOutcome:
    """What a consent keyword in an inbound message did, and the one reply to send."""

    keyword: str
    status: str
    reply: str


def _normalise(text: str) -> str:
    return "".join(ch for ch in (text or "").strip().upper() if ch.isalnum() or ch.isspace()).strip()


def consent_keyword(*, channel: Channel, address: str, text: str) -> KeywordOutcome | None:
    """STOP / START / YES (configurable per channel, case-insensitive, the whole message) on a
    platform-owned channel change consent; the outcome's reply may be sent once. None: not a keyword.
    Precondition: inside the inbound transaction.
    """
    if consent_owner(channel=channel) != "platform":
        return None  # the partner owns consent and handles its own keywords
    config = consent_settings(channel=channel)
    word = _normalise(text)
    if not word:
        return None

    def listed(key: str) -> bool:
        return word in {_normalise(k) for k in config[key]}

    actor = "end_user"
    if listed("opt_out_keywords"):
        record = consent_update(
            channel=channel,
            address=address,
            status=ConsentStatus.OPT_OUT,
            source="keyword",
            actor=actor,
            as_owner="platform",
        )
        reply = config["opt_out_reply"]
    elif listed("opt_in_keywords"):
        record = consent_update(
            channel=channel,
            address=address,
            status=ConsentStatus.OPT_IN,
            source="keyword",
            actor=actor,
            as_owner="platform",
        )
        reply = config["double_opt_in_prompt"] if record.pending_opt_in else config["opt_in_reply"]
    elif listed("confirm_keywords"):
        record = _lock_record(channel=channel, address=address)
        if not record.pending_opt_in:
            return None  # "yes" outside a double opt-in is an ordinary message
        _change(
            record, channel, status=ConsentStatus.OPT_IN, pending=False, source=ConsentSource.CONFIRMATION, actor=actor
        )
        reply = config["opt_in_reply"]
    else:
        return None
    record.confirmation_due = True
    record.save(update_fields=["confirmation_due"])
    return KeywordOutcome(keyword=word, status=record.status, reply=reply)


# --- privacy ------------------------------------------------------------------------------------


def consent_erase_address(*, tenant, address: str) -> int:
    """Replace the address by its salted hash in the tenant's consent records and history (kept by law).

    The history trigger allows exactly this update (see the 0002 migration). Returns rows changed.
    """
    hashed = address_hash(address)
    with transaction.atomic():
        records = ConsentRecord.objects.filter(tenant=tenant, address=address).update(address=hashed)
        changes = ConsentChange.objects.filter(tenant=tenant, address=address).update(address=hashed)
    return records + changes


def consent_export(*, tenant, address: str) -> list[dict]:
    """The tenant's consent records for `address` (plain or hashed) with their full history."""
    out = []
    for record in ConsentRecord.objects.filter(
        tenant=tenant, address__in=[address, address_hash(address)]
    ).select_related("channel"):
        out.append(
            {
                "channel_address_id": record.channel.channel_address_id,
                "address": record.address,
                "status": record.status,
                "owner": record.owner,
                "source": record.source,
                "pending_opt_in": record.pending_opt_in,
                "updated_at": record.updated_at.isoformat(),
                "history": [
                    {
                        "at": c.created_at.isoformat(),
                        "old_status": c.old_status,
                        "new_status": c.new_status,
                        "pending_opt_in": c.pending_opt_in,
                        "source": c.source,
                        "actor": c.actor,
                    }
                    for c in record.changes.order_by("created_at", "id")
                ],
            }
        )
    return out

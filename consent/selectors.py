"""Reads of consent: the channel's settings and the FIG 16B decision, explained."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from ccp.packages.choices import Owner
from tenants.models import Channel

from .choices import ConsentStatus
from .models import ConsentRecord

# A channel definition's `consent_defaults` override these; a channel's `settings["consent"]` overrides both.
DEFAULTS: dict = {
    # What an address with no recorded consent counts as for agent-initiated outbound ("unknown" refuses).
    "default_status": ConsentStatus.UNKNOWN,
    # An end user who writes first may be answered in that conversation while their status is unknown.
    "implicit_consent": True,
    # An opt-in (keyword or agent) takes effect only once the end user answers the confirmation.
    "double_opt_in": False,
    "opt_out_keywords": ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"],
    "opt_in_keywords": ["START", "UNSTOP", "SUBSCRIBE"],
    "confirm_keywords": ["YES"],
    "opt_out_reply": "You are unsubscribed and will get no more messages from us. Reply START to subscribe again.",
    "opt_in_reply": "You are subscribed. Reply STOP to unsubscribe.",
    "double_opt_in_prompt": "Reply YES to confirm that you want messages from us. Reply STOP to unsubscribe.",
}


@dataclass(frozen=True)
class Decision:
    """The answer of FIG 16B: may the tenant send to this address on this channel now, and why."""

    status: str
    allowed: bool
    owner: str
    updated_at: datetime | None
    reason: str
    pending_opt_in: bool = False


def consent_owner(*, channel: Channel) -> str:
    """platform or partner: the package's channel definition names who may change consent."""
    installation = channel.installation
    if installation is None:
        return Owner.PLATFORM
    return installation.package.channel_definition.consent_owner


def consent_settings(*, channel: Channel) -> dict:
    merged = dict(DEFAULTS)
    if channel.installation_id is not None:
        merged.update(channel.installation.package.channel_definition.consent_defaults or {})
    merged.update((channel.settings or {}).get("consent") or {})
    return merged


def consent_record(*, channel: Channel, address: str) -> ConsentRecord | None:
    return ConsentRecord.objects.filter(channel=channel, address=address).first()


def address_hash(address: str) -> str:
    """SHA-256 of the address with the deployment's secret salt, settings.CONSENT_ERASE_SALT (never
    SECRET_KEY: rotating that must not orphan the hashes; settings refuse to start without it)."""
    salt = settings.CONSENT_ERASE_SALT
    return "sha256:" + hashlib.sha256(f"{salt}:{address}".encode()).hexdigest()


def erased_opt_out(*, channel: Channel, record: ConsentRecord | None, address: str) -> bool:
    """An address whose data was erased after it opted out stays opted out until it opts in again."""
    if record is not None and record.source:
        return False
    return ConsentRecord.objects.filter(
        channel=channel, address=address_hash(address), status=ConsentStatus.OPT_OUT
    ).exists()


def decide(
    *,
    record: ConsentRecord | None,
    channel: Channel,
    end_user_wrote: bool = False,
    confirmation: bool = False,
    erased_opt_out: bool = False,
) -> Decision:
    """The FIG 16B decision table (docs/consent.md). Pure: reads only what it is given."""
    config = consent_settings(channel=channel)
    owner = record.owner if record is not None else consent_owner(channel=channel)
    status = record.status if record is not None else ConsentStatus.UNKNOWN
    updated = record.updated_at if record is not None and record.source else None
    pending = bool(record and record.pending_opt_in)

    def answer(allowed: bool, reason: str) -> Decision:
        return Decision(status, allowed, owner, updated, reason, pending)

    if confirmation and record is not None and record.confirmation_due:
        return answer(True, "One confirmation reply to the end user's consent keyword is allowed.")
    if erased_opt_out and status == ConsentStatus.UNKNOWN:
        return answer(False, "The end user opted out before their personal data was erased; nothing may be sent.")
    if status == ConsentStatus.OPT_OUT:
        when = f" on {record.updated_at:%Y-%m-%d %H:%M} UTC" if record and record.updated_at else ""
        return answer(False, f"The end user opted out{when} (source: {record.source}); nothing may be sent.")
    if status == ConsentStatus.OPT_IN:
        return answer(True, f"The end user opted in (source: {record.source}).")
    waiting = " An opt-in is waiting for the end user's confirmation (double opt-in)." if pending else ""
    if end_user_wrote and config["implicit_consent"]:
        return answer(True, "The end user wrote first in this conversation: implicit consent for it." + waiting)
    if config["default_status"] == ConsentStatus.OPT_IN:
        return answer(True, "No consent is recorded; this channel's default is opt-in." + waiting)
    return answer(
        False,
        "The end user has not opted in on this channel; an agent-initiated message needs an explicit opt-in." + waiting,
    )


def consent_evaluate(*, channel: Channel, address: str, end_user_wrote: bool = False) -> Decision:
    """Explain whether an outbound message to `address` would be allowed now (no lock; see services)."""
    return decide(
        record=consent_record(channel=channel, address=address), channel=channel, end_user_wrote=end_user_wrote
    )

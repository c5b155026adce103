"""Canned responses: shared with the tenant (written by supervisors and admins) or personal (any
member's own). Placeholders are filled by the workspace when inserted (static/js/workspace/canned.js;
the rule is in docs/supervision.md)."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from ccp.audit.services import audit_record
from ccp.core.errors import Invalid
from tenants.choices import Role
from tenants.models import Membership

from ..errors import ShortcutTaken, SupervisorOnly
from ..models import CannedResponse

SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
MAX_TEXT = 5000


def canned_data(canned: CannedResponse) -> dict:
    return {
        "id": str(canned.id),
        "shortcut": canned.shortcut,
        "title": canned.title,
        "text": canned.text,
        "shared": canned.owner_id is None,
        "scope": "tenant" if canned.owner_id is None else "personal",
        "owner_id": str(canned.owner_id) if canned.owner_id else None,
        "created_at": canned.created_at,
        "updated_at": canned.updated_at,
    }


def _clean(values: dict, problems: dict) -> dict:
    clean = {}
    if "shortcut" in values:
        shortcut = values["shortcut"]
        if not isinstance(shortcut, str) or not SHORTCUT.match(shortcut.strip().lower().lstrip("/")):
            problems["shortcut"] = ["1 to 50 lower-case letters, digits, - or _, starting with a letter or digit"]
        else:
            clean["shortcut"] = shortcut.strip().lower().lstrip("/")
    if "text" in values:
        text = values["text"]
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            problems["text"] = [f"write 1 to {MAX_TEXT} characters"]
        else:
            clean["text"] = text
    if "title" in values:
        title = values["title"]
        if not isinstance(title, str) or len(title) > 200:
            problems["title"] = ["at most 200 characters"]
        else:
            clean["title"] = title
    return clean


def _may_edit(membership: Membership, canned: CannedResponse) -> None:
    if canned.owner_id is None and membership.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise SupervisorOnly("Shared canned responses are managed by supervisors and tenant admins.")


def _save(canned: CannedResponse, fields: list[str] | None = None) -> CannedResponse:
    try:
        with transaction.atomic():
            canned.save(update_fields=fields) if fields else canned.save()
    except IntegrityError:
        raise ShortcutTaken(
            f"/{canned.shortcut} is already taken here; choose another shortcut.",
            details={"shortcut": ["is taken"]},
        ) from None
    return canned


def _audit_shared(action: str, membership: Membership, canned: CannedResponse, before=None, after=None) -> None:
    if canned.owner_id is None:  # personal ones are the agent's own business
        audit_record(action=action, tenant=membership.tenant, obj=canned, before=before, after=after)


def canned_create(*, membership: Membership, shortcut, text, title="", shared: bool = False) -> CannedResponse:
    problems: dict[str, list[str]] = {}
    values = _clean({"shortcut": shortcut, "text": text, "title": title or ""}, problems)
    if problems:
        raise Invalid("The canned response cannot be saved; see details.", details=problems)
    if shared and membership.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise SupervisorOnly("Shared canned responses are managed by supervisors and tenant admins.")
    canned = CannedResponse(tenant=membership.tenant, owner=None if shared else membership, **values)
    with transaction.atomic():
        _save(canned)
        _audit_shared("canned_response.created", membership, canned, after=values)
    return canned


def canned_update(*, membership: Membership, canned: CannedResponse, changes: dict) -> CannedResponse:
    _may_edit(membership, canned)
    problems: dict[str, list[str]] = {}
    values = _clean({k: v for k, v in changes.items() if k in ("shortcut", "text", "title")}, problems)
    if problems:
        raise Invalid("The canned response cannot be saved; see details.", details=problems)
    before = {k: getattr(canned, k) for k in values}
    for key, value in values.items():
        setattr(canned, key, value)
    with transaction.atomic():
        _save(canned, [*values, "updated_at"] if values else None)
        _audit_shared("canned_response.changed", membership, canned, before=before, after=values)
    return canned


def canned_delete(*, membership: Membership, canned: CannedResponse) -> None:
    _may_edit(membership, canned)
    with transaction.atomic():
        _audit_shared("canned_response.deleted", membership, canned, before=canned_data(canned))
        canned.delete()

"""Signals the partner space sends so higher apps can act without being imported here.

`grants_revoked` is sent inside the transaction that revoked a connected app's tokens, with
`partner_id` and `application_id`. The event bus connects to it (`ccp.events.apps`) to wake the
partner's open event streams after commit, so they re-check their token and close at once.
"""

from django.dispatch import Signal

grants_revoked = Signal()

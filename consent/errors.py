"""Domain errors of consent."""

from ccp.core.errors import Forbidden


class NotConsentOwner(Forbidden):
    code = "not_consent_owner"
    default_message = "You do not own consent on this channel, so you cannot change it."


class ConsentDenied(Forbidden):
    code = "consent_denied"
    default_message = "The end user has not consented to messages on this channel."

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from ..choices import ConsentSource
from ..selectors import consent_evaluate, consent_record


@extend_schema_serializer(component_name="Consent")
class ConsentOutput(serializers.Serializer):
    to = serializers.CharField(help_text="The channel address id.")
    address = serializers.CharField()
    status = serializers.ChoiceField(choices=["opt_in", "opt_out", "unknown"])
    pending_opt_in = serializers.BooleanField(help_text="An opt-in waits for the end user's confirmation.")
    allowed_outbound = serializers.BooleanField(help_text="May an agent start a conversation to this address now?")
    owner = serializers.ChoiceField(choices=["platform", "partner"])
    source = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(help_text="Why outbound is allowed or refused (FIG 16B).")


@extend_schema_serializer(component_name="ConsentInput")
class ConsentInput(serializers.Serializer):
    to = serializers.CharField(max_length=200)
    address = serializers.CharField(max_length=300)
    status = serializers.ChoiceField(choices=["opt_in", "opt_out"])
    source = serializers.ChoiceField(
        choices=[ConsentSource.KEYWORD, ConsentSource.WEB_FORM, ConsentSource.API, ConsentSource.AGENT],
        default=ConsentSource.API,
    )


def consent_output(*, channel, address: str) -> dict:
    """The evaluated consent of an address as agent-initiated outbound would see it."""
    decision = consent_evaluate(channel=channel, address=address)
    record = consent_record(channel=channel, address=address)
    return {
        "to": channel.channel_address_id,
        "address": address,
        "status": decision.status,
        "pending_opt_in": decision.pending_opt_in,
        "allowed_outbound": decision.allowed,
        "owner": decision.owner,
        "source": record.source if record else "",
        "updated_at": decision.updated_at,
        "reason": decision.reason,
    }

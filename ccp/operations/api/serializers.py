"""The reports' output shapes (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from rest_framework import serializers

from ..metrics import DEFINITIONS


def _seconds(name: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=DEFINITIONS[name])


class MetricsOutput(serializers.Serializer):
    """Every metric of one interval (or of the whole range); definitions in docs/reports.md."""

    offered = serializers.IntegerField(help_text=DEFINITIONS["offered"])
    answered = serializers.IntegerField(help_text=DEFINITIONS["answered"])
    abandoned = serializers.IntegerField(help_text=DEFINITIONS["abandoned"])
    short_abandoned = serializers.IntegerField(help_text=DEFINITIONS["short_abandoned"])
    asa_seconds = _seconds("asa_seconds")
    service_level = _seconds("service_level")
    handled = serializers.IntegerField(help_text="Accepted work whose conversation work and ACW have ended.")
    aht_seconds = _seconds("aht_seconds")
    acw_seconds = _seconds("acw_seconds")
    first_response_seconds = _seconds("first_response_seconds")
    transfers = serializers.IntegerField(help_text=DEFINITIONS["transfers"])
    occupancy = _seconds("occupancy")
    fcr = _seconds("fcr")
    sla_met = _seconds("sla_met")


class SummaryRowOutput(MetricsOutput):
    start = serializers.DateTimeField(help_text="Where the interval begins (UTC; a local hour or midnight).")
    end = serializers.DateTimeField(help_text="Where it ends, excluded.")


class SummaryOutput(serializers.Serializer):
    interval = serializers.ChoiceField(choices=["hour", "day"])
    time_zone = serializers.CharField(help_text="The tenant's time zone: where days and hours begin.")
    queue = serializers.CharField(allow_null=True)
    channel = serializers.CharField(allow_null=True)
    rows = SummaryRowOutput(many=True)
    total = MetricsOutput()


class AgentRowOutput(serializers.Serializer):
    agent_id = serializers.CharField()
    name = serializers.CharField()
    username = serializers.CharField()
    handled = serializers.IntegerField(help_text="Work handled, of work items that entered routing in the range.")
    aht_seconds = _seconds("aht_seconds")
    acw_seconds = _seconds("acw_seconds")
    occupancy = _seconds("occupancy")
    online_seconds = serializers.FloatField(help_text="Seconds in presence online, within the range.")
    busy_seconds = serializers.FloatField(help_text="Seconds in presence busy, within the range.")
    away_seconds = serializers.FloatField(help_text="Seconds in presence away, within the range.")


class AgentsReportOutput(serializers.Serializer):
    time_zone = serializers.CharField()
    agents = AgentRowOutput(many=True)


# "from" is a Python keyword: declared after the class statement.
for _serializer in (SummaryOutput, AgentsReportOutput):
    _serializer._declared_fields = {
        "from": serializers.DateTimeField(help_text="Start of the range (UTC), included."),
        "to": serializers.DateTimeField(help_text="End of the range (UTC), excluded."),
        **_serializer._declared_fields,
    }


class CapacityOutput(serializers.Serializer):
    max = serializers.IntegerField()
    used = serializers.IntegerField()


class RealtimeQueueOutput(serializers.Serializer):
    queue_id = serializers.CharField(allow_null=True)
    queue = serializers.CharField(allow_null=True, help_text="Its name; null for work routed to no queue.")
    waiting = serializers.IntegerField(help_text="Work items waiting for an agent (queued or offered).")
    oldest_wait_seconds = serializers.FloatField(help_text="How long the oldest of them has waited.")
    agents_online = serializers.IntegerField(
        help_text="Members (or, for a queue without members, agents) online or busy."
    )
    agents_available = serializers.IntegerField(help_text="Of those, online with free capacity.")
    agents_busy = serializers.IntegerField()
    agents_away = serializers.IntegerField()
    service_level_today = serializers.FloatField(allow_null=True, help_text=DEFINITIONS["service_level"])


class RealtimeAgentOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    status_since = serializers.DateTimeField(allow_null=True)
    available = serializers.BooleanField(help_text="Online with free capacity for some channel type.")
    load = serializers.DictField(child=CapacityOutput(), help_text='Per channel type {"max", "used"}.')


class RealtimeTotalsOutput(serializers.Serializer):
    waiting = serializers.IntegerField()
    agents_online = serializers.IntegerField()
    agents_available = serializers.IntegerField()
    agents_busy = serializers.IntegerField()
    agents_away = serializers.IntegerField()
    agents_offline = serializers.IntegerField()
    service_level_today = serializers.FloatField(allow_null=True)


class RealtimeOutput(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    queues = RealtimeQueueOutput(many=True)
    agents = RealtimeAgentOutput(many=True)
    totals = RealtimeTotalsOutput()

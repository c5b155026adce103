from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from tenants.api.base import SupervisorApi

from .. import selectors
from .serializers import AgentOutput


class SupervisorOverviewApi(SupervisorApi):
    """The live supervisor view: queues, agents and recent routing decisions of the tenant."""

    class OutputSerializer(serializers.Serializer):
        class QueueRow(serializers.Serializer):
            name = serializers.CharField()
            waiting = serializers.IntegerField()
            offered = serializers.IntegerField()
            longest_wait_seconds = serializers.FloatField()

        class DecisionRow(serializers.Serializer):
            id = serializers.CharField()
            created_at = serializers.DateTimeField()
            engine = serializers.CharField()
            arm = serializers.CharField(allow_blank=True)
            strategy = serializers.CharField()
            outcome = serializers.CharField()
            agent = serializers.CharField(allow_null=True)
            reference = serializers.CharField()
            queue = serializers.CharField(allow_null=True)
            latency_ms = serializers.FloatField()
            reason = serializers.CharField(allow_blank=True)

        class AbBlock(serializers.Serializer):
            class ArmRow(serializers.Serializer):
                arm = serializers.CharField()
                routed = serializers.IntegerField()
                placed_by_ai = serializers.IntegerField()
                feedback = serializers.IntegerField()
                resolved = serializers.IntegerField()
                resolution_rate = serializers.FloatField(allow_null=True)
                transfers = serializers.IntegerField()
                handled = serializers.IntegerField()
                mean_handle_seconds = serializers.FloatField(allow_null=True)

            window_hours = serializers.IntegerField()
            enabled = serializers.BooleanField()
            share = serializers.IntegerField()
            arms = ArmRow(many=True)

        generated_at = serializers.DateTimeField()
        queues = QueueRow(many=True)
        agents = AgentOutput(many=True)
        decisions = DecisionRow(many=True)
        ab = AbBlock()

    @extend_schema(responses=OutputSerializer, summary="Queues, agents, recent decisions", tags=["supervisor"])
    def get(self, request):
        return Response(self.OutputSerializer(selectors.supervisor_overview(tenant=self.tenant)).data)

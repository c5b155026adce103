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
                resolution_ci = serializers.ListField(
                    child=serializers.FloatField(), allow_null=True, help_text="95 % Wilson interval"
                )
                transfer_rate = serializers.FloatField(allow_null=True, help_text="share of routed items transferred")
                transfer_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
                abandoned = serializers.IntegerField(help_text="cancelled after routing, never accepted")
                abandonment_rate = serializers.FloatField(allow_null=True)
                abandonment_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
                handle_ci = serializers.ListField(
                    child=serializers.FloatField(), allow_null=True, help_text="95 % normal interval, seconds"
                )
                scored = serializers.IntegerField(help_text="finished conversations with an outcome score")
                mean_outcome_score = serializers.FloatField(allow_null=True)
                outcome_score_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)

            class Comparison(serializers.Serializer):
                metric = serializers.CharField()
                n_ai = serializers.IntegerField()
                n_platform = serializers.IntegerField()
                difference = serializers.FloatField(allow_null=True, help_text="AI minus platform")
                ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
                p_value = serializers.FloatField(allow_null=True)
                significant = serializers.BooleanField()

            window_hours = serializers.IntegerField()
            enabled = serializers.BooleanField()
            share = serializers.IntegerField()
            arms = ArmRow(many=True)
            comparisons = Comparison(many=True)
            significant = serializers.BooleanField(help_text="any comparison significant at 95 %")
            verdict = serializers.CharField(help_text="one sentence: what is significant, or that nothing is yet")

        generated_at = serializers.DateTimeField()
        queues = QueueRow(many=True)
        agents = AgentOutput(many=True)
        decisions = DecisionRow(many=True)
        ab = AbBlock()

    @extend_schema(responses=OutputSerializer, summary="Queues, agents, recent decisions", tags=["supervisor"])
    def get(self, request):
        return Response(self.OutputSerializer(selectors.supervisor_overview(tenant=self.tenant)).data)

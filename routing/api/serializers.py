"""Serializers of routing data shared by the partner, agent and supervisor APIs."""

from rest_framework import serializers


class CapacitySerializer(serializers.Serializer):
    max = serializers.IntegerField()
    used = serializers.IntegerField()


class AgentOutput(serializers.Serializer):
    """An agent as `routing.selectors.agents_with_capacity` describes them."""

    id = serializers.CharField()
    name = serializers.CharField()
    username = serializers.CharField()
    role = serializers.CharField()
    status = serializers.CharField()
    status_since = serializers.DateTimeField(allow_null=True)
    skills = serializers.DictField(child=serializers.IntegerField())
    capacity = serializers.DictField(child=CapacitySerializer())

from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Row


class InsertApi(APIView):
    """POST {"text", "n"} -> validate, insert one row, answer 201 with its id (no auth, no outbox)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=10_000)
        n = serializers.IntegerField(min_value=0)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = Row.objects.create(**data.validated_data)
        return Response({"id": row.pk}, status=201)


urlpatterns = [path("bench/insert/", InsertApi.as_view())]

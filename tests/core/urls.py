"""A test-only URLconf: a partner POST endpoint with a visible side effect, to test the base API class."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response

from ccp.core.errors import Conflict
from ccp.packages.api.base import PartnerApi
from ccp.packages.models import Partner
from ccp.urls import handler404, handler500


class CreatePartnerProbeApi(PartnerApi):
    required_scopes = ["packages"]

    class InputSerializer(serializers.Serializer):
        identifier = serializers.SlugField()
        fail = serializers.BooleanField(default=False)
        crash = serializers.BooleanField(default=False)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["fail"]:
            raise Conflict("Told to fail.", code="told_to_fail")
        if data.validated_data["crash"]:
            raise RuntimeError("a bug in the view")  # an unexpected failure: answers 500
        probe = Partner.objects.create(
            partner_identifier=data.validated_data["identifier"],
            name="probe",
            metadata={"by": str(self.partner.pk)},
        )
        return Response(
            {"id": probe.pk, "created_at": probe.created_at, "count": Partner.objects.filter(name="probe").count()},
            status=201,
        )


urlpatterns = [
    path("api/v1/test/probe/", CreatePartnerProbeApi.as_view()),
    path("", include("ccp.urls")),
]

__all__ = ["handler404", "handler500", "urlpatterns"]

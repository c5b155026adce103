"""A test-only URLconf: partner POST endpoints with visible side effects, to test the base API class."""

import contextlib
import threading
from typing import ClassVar

from django.db import connection, transaction
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


class ConflictProbeApi(PartnerApi):
    """Creates a Partner row, then loses `conflicts` times to a deadlock that PostgreSQL itself
    reports (SQLSTATE 40P01, raised in the database) before it succeeds."""

    required_scopes = ["packages"]
    attempts: ClassVar[dict[str, int]] = {}

    def post(self, request):
        identifier = request.data["identifier"]
        with transaction.atomic():
            Partner.objects.create(partner_identifier=identifier, name="conflict-probe")
            seen = self.attempts[identifier] = self.attempts.get(identifier, 0) + 1
            if seen <= request.data["conflicts"]:
                with connection.cursor() as cursor:
                    cursor.execute("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = 'deadlock_detected'; END $$")
        return Response({"attempts": seen}, status=201)


class LockPairProbeApi(PartnerApi):
    """Locks two Partner rows in the order given, meeting the other request in between: two of these in
    opposite orders deadlock for real, and PostgreSQL aborts one of them."""

    required_scopes = ["packages"]
    meet: ClassVar[threading.Barrier | None] = None
    attempts: ClassVar[list[str]] = []

    def post(self, request):
        first, second = request.data["first"], request.data["second"]
        self.attempts.append(first)
        with transaction.atomic():
            Partner.objects.select_for_update().get(pk=first)
            if self.meet is not None and len(self.attempts) <= 2:  # the first two attempts meet; a retry does not
                with contextlib.suppress(threading.BrokenBarrierError):
                    self.meet.wait(timeout=10)
            locked = Partner.objects.select_for_update().get(pk=second)
            locked.name = f"locked after {first}"
            locked.save(update_fields=["name"])
        return Response({"first": first}, status=200)


urlpatterns = [
    path("api/v1/test/probe/", CreatePartnerProbeApi.as_view()),
    path("api/v1/test/conflict/", ConflictProbeApi.as_view()),
    path("api/v1/test/lock-pair/", LockPairProbeApi.as_view()),
    path("", include("ccp.urls")),
]

__all__ = ["handler404", "handler500", "urlpatterns"]

"""The operations reports (PARTNER_API.md "Operations"): summary, agents, real time. Supervisors and
tenant admins only (403 `supervisor_only` for agents); definitions in ccp/operations/metrics.py."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from tenants.api.base import SupervisorApi

from .. import selectors
from .csv import CsvRenderer
from .serializers import AgentsReportOutput, RealtimeOutput, SummaryOutput

# A date or an ISO 8601 date-time; whether the range makes sense (to after from, not too long) is
# checked by the view: 400 `invalid_range`.
DATE_OR_INSTANT = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
RANGE_PARAMETERS = [
    OpenApiParameter(
        "from",
        DATE_OR_INSTANT,
        description="First day (YYYY-MM-DD, the tenant's time zone) or an ISO 8601 instant; default today.",
    ),
    OpenApiParameter(
        "to",
        DATE_OR_INSTANT,
        description="Last day, included (YYYY-MM-DD), or an ISO 8601 instant, excluded; default today.",
    ),
]
FORMAT_PARAMETER = OpenApiParameter(
    "format", str, enum=["json", "csv"], description="csv: the same report as CSV (or send Accept: text/csv)."
)


class ReportNegotiation(DefaultContentNegotiation):
    """An unknown `?format=` is 406 not_acceptable (DRF's default answers 404, as for a missing page)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Http404:
            raise NotAcceptable("format must be json or csv.") from None


class ReportApi(SupervisorApi):
    """JSON, or CSV with `?format=csv` / `Accept: text/csv`; errors are always JSON."""

    renderer_classes = [JSONRenderer, CsvRenderer]
    content_negotiation_class = ReportNegotiation

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and getattr(response, "accepted_renderer", None) is not None:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
        return response

    def range_(self, request, *, interval: bool):
        params = request.query_params
        return selectors.report_range_for(
            tenant=self.tenant,
            start=params.get("from"),
            end=params.get("to"),
            interval=params.get("interval") if interval else "day",
        )


class ReportSummaryApi(ReportApi):
    """One row per hour or day of the range (the tenant's time zone) and a total row."""

    error_statuses = (404, 501)  # queue_not_found, unknown_channel; reports_need_postgresql

    @extend_schema(
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("interval", str, enum=["hour", "day"], description="Row size; default day."),
            OpenApiParameter("queue", str, description="Only work of this queue (its name)."),
            OpenApiParameter("channel", str, description="Only this channel (its channel_address_id)."),
            FORMAT_PARAMETER,
        ],
        responses={
            200: OpenApiResponse(SummaryOutput, description="The report; text/csv: one line per row and a total."),
        },
        summary="Historical metrics per interval, with a total",
        tags=["reports"],
    )
    def get(self, request):
        report = selectors.report_summary(
            tenant=self.tenant,
            range_=self.range_(request, interval=True),
            queue=request.query_params.get("queue") or None,
            channel=request.query_params.get("channel") or None,
        )
        return Response(SummaryOutput(report).data, headers=_attachment(request, "summary"))


class ReportAgentsApi(ReportApi):
    """Per agent over the range: handled, AHT, ACW, occupancy, seconds online / busy / away."""

    error_statuses = (501,)  # reports_need_postgresql: not PostgreSQL (the embedded SQLite)

    @extend_schema(
        parameters=[*RANGE_PARAMETERS, FORMAT_PARAMETER],
        responses={200: OpenApiResponse(AgentsReportOutput, description="The report; text/csv: one line per agent.")},
        summary="Per-agent metrics over a range",
        tags=["reports"],
    )
    def get(self, request):
        report = selectors.report_agents(tenant=self.tenant, range_=self.range_(request, interval=False))
        return Response(AgentsReportOutput(report).data, headers=_attachment(request, "agents"))


class ReportRealtimeApi(SupervisorApi):
    """Now: queues (waiting, oldest wait, agents online / available, today's service level) and agents."""

    @extend_schema(responses=RealtimeOutput, summary="Live queues and agents", tags=["reports"])
    def get(self, request):
        return Response(RealtimeOutput(selectors.report_realtime(tenant=self.tenant)).data)


def _attachment(request, name: str) -> dict:
    if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
        return {"Content-Disposition": f'attachment; filename="ccp-{name}.csv"'}
    return {}

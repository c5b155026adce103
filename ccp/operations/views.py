"""The supervisors' reports page (/supervisor/reports/): filters, KPI tiles, charts, the agent table
and CSV downloads; its data comes from the reports API (ccp/operations/api)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from routing.selectors import queue_names
from tenants.choices import Role
from tenants.selectors import membership_for_user, tenant_channels

from .selectors import reports_historical_unavailable


@login_required
def reports_page(request):
    membership = membership_for_user(user=request.user)
    allowed = membership is not None and membership.role in (Role.SUPERVISOR, Role.ADMIN)
    context = {"membership": membership, "allowed": allowed}
    if allowed:
        context["queues"] = sorted(queue_names(tenant=membership.tenant))
        context["channels"] = list(tenant_channels(tenant=membership.tenant))
        context["time_zone"] = membership.tenant.time_zone or "UTC"
        context["unavailable"] = reports_historical_unavailable()
    return render(request, "supervisor/reports.html", context, status=200 if allowed else 403)

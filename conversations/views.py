"""Browser pages of the agent workspace (session login)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from tenants.selectors import connector_origins, membership_for_user


@login_required
def agent_workspace(request):
    """The workspace shell; the page's modules load state from the agent API and events from /ws/agent/."""
    membership = membership_for_user(user=request.user)
    if membership is None:
        return render(request, "agent/workspace.html", {"membership": None}, status=403)
    config = {
        "agent": {"id": str(membership.pk), "name": membership.name, "role": membership.role},
        "tenant": {"slug": membership.tenant.slug, "name": membership.tenant.name},
        "login_url": "/accounts/login/?next=/agent/",
    }
    response = render(request, "agent/workspace.html", {"membership": membership, "config": config})
    # The page frames its tenant's connector pages (static/js/connectors.js): only those origins, on
    # top of the project policy (what `csp.decorators.csp_update` sets, computed per tenant).
    origins = connector_origins(tenant=membership.tenant)
    if origins:
        # … and plays call recordings the telephony partner serves from the same origins (calls.js)
        response._csp_update = {"frame-src": origins, "media-src": origins}
    return response

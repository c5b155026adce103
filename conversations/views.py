"""Browser pages of the agent workspace (session login)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from tenants.selectors import membership_for_user


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
    return render(request, "agent/workspace.html", {"membership": membership, "config": config})

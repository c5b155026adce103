"""Browser pages of the agent workspace (session login)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from tenants.selectors import membership_for_user


@login_required
def agent_workspace(request):
    membership = membership_for_user(user=request.user)
    status = 200 if membership is not None else 403
    return render(request, "agent/workspace.html", {"membership": membership}, status=status)

"""The supervisor page: a live view of queues, agents and routing decisions (data from the API)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from tenants.choices import Role
from tenants.selectors import membership_for_user


@login_required
def supervisor_page(request):
    membership = membership_for_user(user=request.user)
    allowed = membership is not None and membership.role in (Role.SUPERVISOR, Role.ADMIN)
    return render(
        request,
        "supervisor/overview.html",
        {"membership": membership, "allowed": allowed},
        status=200 if allowed else 403,
    )

"""The login lockout (django-axes) as ccp uses it; the policy is in docs/lockout-and-revocation.md."""

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out username + address before any password is checked (first in
    AUTHENTICATION_BACKENDS; the next backend authenticates).

    A call of `authenticate()` without a request (the test client's `login()`, a shell) has no
    address to count against, so it is not watched here instead of failing: every login page —
    `/accounts/login/` and `/admin/login/` — passes its request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

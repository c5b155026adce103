"""on_commit_robust: a failing post-commit callback is logged, never raised into the committed request."""

import logging

import pytest
from django.db import transaction

from ccp.core.db import on_commit_robust

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failing_robust_callback_with_arguments_is_logged_not_raised(caplog):
    calls = []

    def fails(n):
        calls.append(n)
        raise RuntimeError("the connection is gone")

    with caplog.at_level(logging.ERROR, logger="django.db.backends.base"), transaction.atomic():
        on_commit_robust(fails, 7)
    assert calls == [7]
    assert "fails" in caplog.text and "the connection is gone" in caplog.text

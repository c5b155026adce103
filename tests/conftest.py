"""Suite-wide fixtures. The suite runs on real PostgreSQL and Redis and fails — never skips — without them."""

from __future__ import annotations

import os

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings

from .factories import MembershipFactory, PartnerFactory, TenantFactory, connected_app_for
from .helpers import partner_client, token_for

# Files whose tests start several servers or saturate both cores (load generators, killed workers,
# two nodes, PgBouncer) and the browser tests, whose waits are bounded: under pytest-xdist they run
# one after another on one worker, never beside each other, while the other worker takes the rest.
SERIAL_FILES = (
    "tests/browser/",
    "tests/bench/",
    "tests/faults/",
    "tests/deploy/",
    "tests/routing/test_two_nodes",
    "tests/events/test_delivery.py",
    "tests/test_embedded.py",
    "tests/test_ccp_serve.py",
)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks (`make test`: --dist loadgroup)
def pytest_collection_modifyitems(config, items):
    """Each file is one xdist group (its module fixtures and servers are shared, as in one process);
    the SERIAL_FILES are one group together."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group("serial" if path.startswith(SERIAL_FILES) else path))


@pytest.fixture(scope="session", autouse=True)
def real_services(django_db_setup, django_db_blocker):
    """Refuse to run on the embedded default: the suite's guarantees are PostgreSQL + Redis ones."""
    with django_db_blocker.unblock():
        assert connection.vendor == "postgresql", (
            "The test suite runs against PostgreSQL: set DATABASE_URL (the Makefile's `make test` does)."
        )
    assert settings.REDIS_URL, "The test suite needs Redis: set REDIS_URL (the Makefile's `make test` does)."
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {settings.REDIS_URL} is not reachable: {exc}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _validate_event_payloads():
    """Every standard event published while the suite runs — in this process and in the servers it
    starts (they inherit the environment) — is checked against its declaration (ccp/events/payloads.py)."""
    os.environ["EVENTS_VALIDATE_PAYLOADS"] = "1"
    with override_settings(EVENTS_VALIDATE_PAYLOADS=True):
        yield


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme", name="Acme")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(slug="globex", name="Globex")


@pytest.fixture
def agent(tenant):
    return MembershipFactory(tenant=tenant, role="agent")


@pytest.fixture
def tenant_admin(tenant):
    return MembershipFactory(tenant=tenant, role="admin")


@pytest.fixture
def partner(db):
    return PartnerFactory(partner_identifier="acme-comms", name="Acme Comms")


@pytest.fixture
def other_partner(db):
    return PartnerFactory(partner_identifier="rival-comms", name="Rival Comms")


@pytest.fixture
def connected_app(partner):
    return connected_app_for(partner)[0]


@pytest.fixture
def other_connected_app(other_partner):
    return connected_app_for(other_partner)[0]


@pytest.fixture
def api(connected_app):
    """An API client authenticated as `partner` with every scope."""
    return partner_client(token_for(connected_app))


@pytest.fixture
def other_api(other_connected_app):
    return partner_client(token_for(other_connected_app))

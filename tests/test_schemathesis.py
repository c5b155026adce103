"""schemathesis over /api/v1/schema/: what the OpenAPI document promises is what the API does.

Every operation is driven with schema-valid (positive) and schema-invalid (negative) requests, as a
partner (bearer token) and as an agent or supervisor (session cookie + CSRF header), against the
real WSGI application on the test database and Redis. A request fails the run when it answers a 5xx
other than a declared 503, a status the schema does not declare, a body or content type that does not
match the declared response, a schema-valid request refused with 400, or an invalid one accepted.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ccp.celery import app as celery_app
from routing import services as routing_services
from routing.models import AgentWork
from tests.conversations.conftest import CHANNEL, install, message, post
from tests.factories import MembershipFactory, make_manifest
from tests.helpers import partner_client, token_for

# Examples per operation: schema-valid, schema-invalid, and schema-valid on the world's real objects
# (its conversation, offer, agent, draft package, channel and end user, in the path, query and body).
# Deterministic (derandomized), no shrinking: the whole run stays under 3 minutes on a loaded 2-core box.
MAX_EXAMPLES = {"positive": 8, "negative": 6, "real": 6}
CSRF_SECRET = "schemathesisCsrfSecret0123456789"  # what the browser's csrftoken cookie holds (32 chars)

# Negative examples carry NUL bytes and bodies of the wrong JSON type, which the API edge guard turns
# into 400s (lone surrogates are already excluded by the utf-8 codec); positive ones never carry a NUL,
# which the API refuses everywhere by design. Examples send the Idempotency-Key header the schema
# declares on every POST.

# Credentials are ours to send (a real token, a real session), not for schemathesis to invent.
CONFIG = {
    "generation": {
        "allow-x00": True,
        "deterministic": True,
        "database": "none",
        "no-shrink": True,
        "with-security-parameters": False,
    }
}

CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Schema-valid requests the API may still refuse with 400, because the rule is not a shape a JSON
# schema can state (DNS, address policy, a JSON schema inside the body that must itself be valid…).
# Only these error codes, only on these operations; any other 400 to a schema-valid request fails.
SEMANTIC_400 = {
    # https, resolvable, not a private address; event types that exist (standard or the partner's)
    "POST /api/v1/subscriptions/": {"invalid_url", "unknown_event_type"},
    "POST /api/v1/packages/": {"invalid_manifest"},  # `fields` must be JSON schemas; names unique
    "PATCH /api/v1/packages/{package_id}/": {"invalid_manifest"},
    "POST /api/v1/interactions/": {"unknown_message"},  # a receipt names a message that is not ours
    # the world's channel is a messaging channel: calls need a call center (a channel's type)
    "POST /api/v1/calls/": {"not_a_voice_channel"},
    "POST /api/v1/agent/calls/": {"not_a_voice_channel"},
    # `to` after `from`, years 1970-9000, at most 745 hours or 366 days per report
    "GET /api/v1/agent/reports/summary/": {"invalid_range"},
    "GET /api/v1/agent/reports/agents/": {"invalid_range"},
}


# Hypothesis draws strings of at most 8 KiB, so a `maxLength` above that (a message's text, 100 000
# characters; an e-mail's HTML) cannot be violated by a generated example and makes the negative
# strategy fail outright. Such limits are left out of generation only (the served schema keeps them);
# they are tested directly in tests/conversations/test_email_platform.py.
GENERATOR_MAX_LENGTH = 8 * 1024


def _within_generator_limits(node) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("maxLength"), int) and node["maxLength"] > GENERATOR_MAX_LENGTH:
            del node["maxLength"]
        for value in node.values():
            _within_generator_limits(value)
    elif isinstance(node, list):
        for value in node:
            _within_generator_limits(value)


def server_error(response) -> str | None:
    """Our 5xx rule: only 503 `service_unavailable`-style answers in the error envelope are acceptable."""
    if response.status_code < 500:
        return None
    if response.status_code == 503 and _error_code(response):
        return None
    return f"{response.status_code}: {response.content[:500]!r}"


def _error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class Findings:
    failures: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, set[int]] = field(default_factory=dict)
    requests: int = 0

    def add(self, key: str, text: str) -> None:
        self.failures.setdefault(key, text)


# Operations only supervisors (and tenant admins) may call: run as the world's supervisor.
REPORT_PATHS = ("/api/v1/agent/reports/",)
SUPERVISOR_PATHS = ("/api/v1/supervisor/", *REPORT_PATHS)


# Query and body fields that name the world's channel and end users (an `agent_id` in a body stays
# generated: the caller transferring to itself is a refusal no schema can state).
FIELDS_OF_THE_WORLD = {"to", "channel_address_id", "address", "from"}


def _with_real_values(values: dict):
    """Put the world's real channel and end users into the query and body fields named after them."""

    def apply(case):
        if case.operation.path.startswith(REPORT_PATHS):
            return case  # a report's `from` is a date, not an end user's address
        for container in (case.query, case.body):
            if isinstance(container, dict):
                for name in container.keys() & values.keys() & FIELDS_OF_THE_WORLD:
                    container[name] = values[name]
        return case

    return apply


def _without_nul(case) -> bool:
    return "\\u0000" not in json.dumps([case.path_parameters, case.query, case.headers, case.body], default=str)


def _last_if_destructive(operation) -> bool:
    """Closing and deleting run last, so the others meet the world's conversation still open."""
    return operation.method.upper() == "DELETE" or operation.path.endswith("/close/")


def _run_operation(operation, mode, *, headers, cookies, findings: Findings, real=None) -> None:
    positive = mode is GenerationMode.POSITIVE
    path_parameters = {name: real[name] for name in re.findall(r"\{(\w+)\}", operation.path)} if real else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    if real:
        strategy = strategy.map(_with_real_values(real))
    if positive:
        strategy = strategy.filter(_without_nul)

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES["real" if real else mode.value],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        findings.requests += 1
        response = case.call(headers=headers, cookies=cookies)
        findings.statuses.setdefault(operation.label, set()).add(response.status_code)
        label = f"{operation.label} [{mode.value}{', real objects' if real else ''}]"
        curl = case.as_curl_command(headers=headers)
        error = server_error(response)
        if error:
            findings.add(f"{label} 5xx", f"{error}\n{curl}")
            return
        checks = list(CHECKS)
        if not positive:
            checks.append(negative_data_rejection)
        elif not (response.status_code == 400 and _error_code(response) in SEMANTIC_400.get(operation.label, ())):
            checks.append(positive_data_acceptance)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except BaseExceptionGroup as group:
            for failure in group.exceptions:
                findings.add(f"{label} {type(failure).__name__}", _describe(failure, response, curl))
        except AssertionError as failure:
            findings.add(f"{label} {type(failure).__name__}", _describe(failure, response, curl))

    try:
        run()
    except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
        assert not positive, operation.label


def _describe(failure, response, curl) -> str:
    title = getattr(failure, "title", type(failure).__name__)
    message = getattr(failure, "message", str(failure))
    return f"{title}: {message}\n{response.status_code} {response.content[:500]!r}\n{curl}"


@pytest.fixture
def world(tenant, partner, connected_app):
    """A partner with an installed package and a draft; an online agent holding one conversation and
    offered another; a supervisor. `real` holds the values the operations' fields can name them by."""
    install(tenant, partner)
    alice = MembershipFactory(tenant=tenant, role="agent", display_name="Alice")
    supervisor = MembershipFactory(tenant=tenant, role="supervisor", display_name="Sam")
    with transaction.atomic():
        routing_services.presence_set(membership=alice, status="online")
    token = token_for(connected_app)
    api = partner_client(token)
    held = post(api, message("hello", "e1"), sender="+4915100001").json()["conversation_id"]
    post(api, message("hi", "e2"), sender="+4915100002")
    agent = Client()
    agent.force_login(alice.user)
    first, second = AgentWork.objects.order_by("offered_at")
    assert agent.post(f"/api/v1/agent/work/{first.pk}/accept/").status_code == 200
    draft = api.post("/api/v1/packages/", make_manifest(developer_name="draft_pkg"), format="json")
    assert draft.status_code == 201, draft.content
    real = {
        "conversation_id": held,
        "work_id": str(second.pk),
        "agent_id": str(alice.pk),
        "package_id": draft.json()["id"],
        "to": CHANNEL,
        "channel_address_id": CHANNEL,
        "address": "+4915100001",
        "from": "+4915100003",
    }
    yield {"token": token, "agent": alice, "supervisor": supervisor, "real": real}
    celery_app.control.purge()  # the tasks the run queued (no worker runs here) must not reach a later test


def _session_cookies(membership) -> dict[str, str]:
    client = Client()
    client.force_login(membership.user)
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF_SECRET}


@pytest.mark.django_db(transaction=True)
def test_the_api_does_what_its_openapi_schema_says(world, settings):
    settings.PARTNER_RATE_LIMIT = "100000/m"  # the run is a burst from one partner; 429 is tested elsewhere
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/",
        get_wsgi_application(),
        config=schemathesis.Config.from_dict(CONFIG),
        headers={"Accept": "application/vnd.oai.openapi+json"},
    )
    _within_generator_limits(schema.raw_schema)
    partner = {"headers": {"Authorization": f"Bearer {world['token']}"}, "cookies": {}}
    csrf = {"X-CSRFToken": CSRF_SECRET}
    agent = {"headers": csrf, "cookies": _session_cookies(world["agent"])}
    supervisor = {"headers": csrf, "cookies": _session_cookies(world["supervisor"])}
    anonymous = {"headers": {}, "cookies": {}}

    findings = Findings()
    started = time.monotonic()
    operations = 0
    for operation in sorted((r.ok() for r in schema.get_all_operations()), key=_last_if_destructive):
        security = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
        if "partnerOAuth2" in security:
            identity = partner
        elif operation.path.startswith(SUPERVISOR_PATHS) or "supervisor" in operation.definition.raw.get("tags", []):
            # the supervisor's routes under /api/v1/agent/ (supervision) are tagged "supervisor"
            identity = supervisor
        elif not security:  # public documentation (the event payload schemas, the AsyncAPI document)
            identity = anonymous
        else:
            assert "cookieAuth" in security, operation.label
            identity = agent
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run_operation(operation, mode, **identity, findings=findings)
        if set(re.findall(r"\{(\w+)\}", operation.path)) <= world["real"].keys():
            _run_operation(operation, GenerationMode.POSITIVE, **identity, findings=findings, real=world["real"])
    elapsed = time.monotonic() - started

    assert operations >= 45, operations
    # The credentials worked (a 401 would mean every answer was the edge's, not the operation's) and
    # the run reached the views: every operation answered something other than an auth refusal, and
    # most answered a success.
    summary = {label: sorted(codes) for label, codes in sorted(findings.statuses.items())}
    assert not [label for label, codes in summary.items() if 401 in codes or set(codes) <= {403}], summary
    succeeded = [label for label, codes in summary.items() if any(200 <= c < 300 for c in codes)]
    assert len(succeeded) >= 0.6 * operations, summary
    assert not findings.failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(findings.failures.items())) + (
        f"\n\n{len(findings.failures)} distinct failures in {findings.requests} requests, {elapsed:.0f} s"
    )
    print(f"schemathesis: {operations} operations ({len(succeeded)} with a 2xx), {findings.requests} requests")
    print(f"schemathesis: {elapsed:.0f} s")

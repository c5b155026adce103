"""Project-wide checks: the demo command, the OpenAPI schema, the app dependency contract."""

import base64
import json
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.test import Client

from tenants.models import Channel, Membership, Tenant

ROOT = Path(__file__).resolve().parent.parent


def _demo() -> dict:
    out = StringIO()
    call_command("ccp_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def _token(client, partner: dict) -> str:
    basic = base64.b64encode(f"{partner['client_id']}:{partner['client_secret']}".encode())
    token = client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic.decode()}")
    assert token.status_code == 200, token.content
    return token.json()["access_token"]


def test_ccp_demo_is_idempotent_and_its_credentials_work(db):
    first = _demo()
    client = Client()
    token_before = _token(client, first["partner"])
    second = _demo()
    # the same secrets, and the token an example partner got with them still works after the second run
    assert second["partner"] == first["partner"] and second["voice_partner"] == first["voice_partner"]
    assert client.get("/api/v1/partner/", HTTP_AUTHORIZATION=f"Bearer {token_before}").status_code == 200
    assert first["tenant"] == second["tenant"] == "acme"
    assert first["partner"]["client_id"] == second["partner"]["client_id"]
    assert [a["id"] for a in first["agents"]] == [a["id"] for a in second["agents"]]
    assert Tenant.objects.filter(slug="acme").count() == 1
    assert Membership.objects.filter(tenant__slug="acme").count() == 4  # two agents, an admin, a supervisor
    channel = Channel.objects.get(channel_address_id=second["channel_address_id"])
    assert channel.tenant.slug == "acme" and channel.installation.package.is_published
    assert channel.installation.authorization_link == "acme-webchat:demo_webchat:acme"

    _token(client, second["partner"])
    for agent in second["agents"]:
        assert client.login(username=agent["username"], password=agent["password"])
    assert client.login(username=second["admin"]["username"], password=second["admin"]["password"])
    assert client.get("/admin/").status_code == 200
    supervisor = second["supervisor"]
    assert Membership.objects.get(user__username=supervisor["username"], tenant__slug="acme").role == "supervisor"
    assert client.login(username=supervisor["username"], password=supervisor["password"])
    assert client.get("/supervisor/").status_code == 200


def test_openapi_schema_and_docs_are_served(client, db):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    doc = json.loads(schema.content)
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/partner/" in doc["paths"]
    assert client.get("/api/v1/docs/").status_code == 200


def test_the_app_dependency_contract_holds():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


def test_openapi_schema_generates_without_warnings(db, tmp_path):
    """Every endpoint documents its request and response: the schema builds with no warning and validates."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "partnerOAuth2" in text and "/api/v1/packages/" in text

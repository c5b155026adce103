"""Starting with DEBUG off needs real secrets: no public fallback key signs sessions or salts erase hashes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The probe ignores the checkout's .env and var/local.env (`make run`), which would supply the secrets.
PROBE = (
    "import dotenv; dotenv.load_dotenv = lambda *a, **k: False; "
    "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY[:9])"
)


def _start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "CONSENT_ERASE_SALT", "DEBUG"}}
    clean.update(DJANGO_SETTINGS_MODULE="ccp.settings", **env)
    clean["SQLITE_PATH"] = str(tmp_path / "db.sqlite3")
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CONSENT_ERASE_SALT"])
def test_debug_off_without_a_secret_refuses_to_start(tmp_path, missing):
    present = {"SECRET_KEY": "k" * 50, "CONSENT_ERASE_SALT": "s" * 20}
    del present[missing]
    result = _start(tmp_path, DEBUG="0", **present)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and f"{missing} is not set and DEBUG is off" in result.stderr


def test_debug_off_with_both_secrets_starts(tmp_path):
    result = _start(tmp_path, DEBUG="0", SECRET_KEY="deployment-key-" + "k" * 40, CONSENT_ERASE_SALT="salt")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deploymen"


def test_debug_on_starts_with_development_fallbacks(tmp_path):
    result = _start(tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "insecure-"


TRANSPORT_PROBE = (
    "import dotenv; dotenv.load_dotenv = lambda *a, **k: False; "
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
    "s.SECURE_PROXY_SSL_HEADER)"
)


def _transport(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {**os.environ, "DJANGO_SETTINGS_MODULE": "ccp.settings", "SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS"):
        clean.pop(name, None)
    clean.pop("SECURE_PROXY_SSL_HEADER", None)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", TRANSPORT_PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_transport_security_is_off_by_default_and_set_from_the_environment(tmp_path):
    assert _transport(tmp_path).stdout.split() == ["False", "False", "False", "0", "None"]
    on = _transport(
        tmp_path,
        SESSION_COOKIE_SECURE="1",
        CSRF_COOKIE_SECURE="true",
        SECURE_SSL_REDIRECT="yes",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )
    assert on.returncode == 0, on.stderr
    assert on.stdout.strip() == "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"
    bad = _transport(tmp_path, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    assert bad.returncode != 0 and "SECURE_PROXY_SSL_HEADER must be 'HEADER,value'" in bad.stderr


@pytest.mark.django_db
def test_behind_a_tls_proxy_http_is_redirected_and_https_gets_hsts_and_secure_cookies(client, settings, agent):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    plain = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="http")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    page = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert page.status_code == 200 and page["Strict-Transport-Security"] == "max-age=3600"
    assert page.cookies["csrftoken"]["secure"]
    from tests.factories import PASSWORD

    login = client.post(
        "/accounts/login/",
        {"username": agent.user.username, "password": PASSWORD},
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert login.status_code == 302 and login.cookies["sessionid"]["secure"]

"""Settings for ccp, read from the environment (12-factor).

With no configuration the platform runs on an embedded default: a SQLite file, the in-memory
channel layer and eager Celery. `DATABASE_URL` switches to PostgreSQL (psycopg 3) and `REDIS_URL`
to channels-redis plus a real Celery broker.

Variables are read with django-environ (`env.bool`, `env.int`, `env.float`, `env.str`, `env.list`)
after the environment, `.env` and then `var/local.env` are loaded, the first one setting a name winning.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env", override=False)
# `make run` keeps the local demo's generated SECRET_KEY and CONSENT_ERASE_SALT here (the Makefile).
load_dotenv(BASE_DIR / "var" / "local.env", override=False)


class Env(environ.Env):
    """django-environ's typed reading (`env.bool`, `env.int`, `env.float`, `env.str`, `env.list`),
    keeping how ccp has always read its environment: only 1/true/yes/on (any case) are true, an
    empty switch or whole number is unset (its default), a number reads as Python reads it, and a
    value is taken as written — never as a `$OTHER` reference, since a secret may start with "$"."""

    BOOLEAN_TRUE_STRINGS = ("1", "true", "yes", "on")

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        value = self.ENVIRON.get(var)
        if value is None or (value == "" and cast in (bool, int)):
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable")
            return default
        return self.parse_value(value, cast)

    @classmethod
    def parse_value(cls, value, cast):
        if cast is bool:
            return value.strip().lower() in cls.BOOLEAN_TRUE_STRINGS
        if cast is float:  # environ's float drops what is not a digit: 2.5e2 would read as 2.52
            return float(value)
        return super().parse_value(value, cast)


env = Env()

DEBUG = env.bool("DEBUG", default=False)
# Signs sessions, CSRF tokens and password-reset links. Without DEBUG there is no fallback: a key
# everyone can read in this file would let anyone forge a session (`make run` keeps one in var/).
SECRET_KEY = env.str("SECRET_KEY", default="")
# Salts the SHA-256 that replaces an erased end user's address in the kept consent history
# (docs/consent.md): a secret of its own, so that rotating SECRET_KEY does not orphan the hashes and
# phone numbers cannot be brute-forced from the hashes by anyone who knows a default.
CONSENT_ERASE_SALT = env.str("CONSENT_ERASE_SALT", default="")
if DEBUG:
    SECRET_KEY = SECRET_KEY or "insecure-dev-key-only-with-DEBUG-0123456789-abcdefghijklmnopqrstuvwxyz"
    CONSENT_ERASE_SALT = CONSENT_ERASE_SALT or "insecure-dev-salt-only-with-DEBUG"
for _name in ("SECRET_KEY", "CONSENT_ERASE_SALT"):
    if not globals()[_name]:
        raise ImproperlyConfigured(
            f"{_name} is not set and DEBUG is off. Set it in the environment or .env to a long random "
            "value (python -c 'import secrets; print(secrets.token_urlsafe(50))'), the same on every "
            "process of the deployment; or set DEBUG=1 for development."
            + (
                " A deployment that erased contacts before this setting existed sets it to its SECRET_KEY."
                if _name == "CONSENT_ERASE_SALT"
                else ""
            )
        )
ALLOWED_HOSTS = [h.strip() for h in env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env.list("CSRF_TRUSTED_ORIGINS", default=[]) if o.strip()]

# --- transport security (docs/deployment in README): all off by default so that plain-http local runs
# work; behind TLS set them in the environment. SECURE_PROXY_SSL_HEADER is "HEADER,value", e.g.
# "HTTP_X_FORWARDED_PROTO,https", and only when the proxy strips that header from clients' requests.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
_proxy_ssl_header = [p.strip() for p in env.list("SECURE_PROXY_SSL_HEADER", default=[]) if p.strip()]
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https.")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
# One-time secrets (a connected app's client secret) are shown through messages: kept in the
# server-side session, never in the readable `messages` cookie of the default storage.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Content-Security-Policy (django-csp) on every page: our own scripts and styles only, no inline
# code; the workspace adds its tenant's connector origins to frame-src (conversations.views), the
# API docs page its CDN (ccp/urls.py). CSP_REPORT_ONLY=1 sends it as Report-Only while you try it.
_csp = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF],
    "img-src": [SELF, "data:"],
    "font-src": [SELF],
    "connect-src": [SELF],
    "frame-src": [SELF],
    "frame-ancestors": [SELF],
    "object-src": [NONE],
    "base-uri": [SELF],
    "form-action": [SELF],
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp}

INSTALLED_APPS = [
    "ccp.devserver",  # runserver = daphne, without loading Twisted into every process (ccp/devserver)
    "ccp.serving",  # manage.py ccp_serve: the production topology (ccp/serving)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "rest_framework",
    "oauth2_provider",
    "drf_spectacular",
    "channels",
    "axes",
    # ours, in dependency order (see docs/architecture and the import-linter contract)
    "ccp.core",
    "ccp.audit",
    "ccp.packages",
    "tenants",
    "ccp.events",
    "consent",
    "routing",
    "conversations",
    "ccp.operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ccp.core.edge.EdgeGuardMiddleware",  # 413 / NUL and surrogates in path, query, headers (docs/partner-api.md)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ccp.audit.context.AuditContextMiddleware",  # who acts, from where: for the audit log (ccp/audit)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "ccp.core.middleware.BidiControlsMiddleware",  # no U+202A–202E / U+2066–2069 in our HTML
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires: turns a lockout into its page
]

ROOT_URLCONF = "ccp.urls"
WSGI_APPLICATION = "ccp.wsgi.application"
ASGI_APPLICATION = "ccp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
# Without DATABASE_URL (SQLite): how long a transaction waits for the write lock before it fails.
SQLITE_BUSY_TIMEOUT_SECONDS = env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=30)
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            # 0 by default: under ASGI every request runs in its own thread, and persistent
            # connections there are never reused, only piled up until PostgreSQL refuses new
            # clients (measured by the bench). WSGI workers (gunicorn) may set DB_CONN_MAX_AGE=60.
            DATABASE_URL,
            conn_max_age=env.int("DB_CONN_MAX_AGE", default=0),
            conn_health_checks=True,
        )
    }
    # DATABASE_URL is a PgBouncer in transaction pooling mode (docs/deployment.md): consecutive
    # transactions of one client may run on different server connections, so nothing may outlive a
    # transaction on the server. Server-side prepared statements (psycopg's prepare_threshold; Django
    # leaves them off by default, this pins it whatever the URL's options say) and server-side
    # cursors (QuerySet.iterator() declares a WITH HOLD cursor, then fetches in later transactions)
    # would; the time zone Django sets on connect is a parameter PgBouncer tracks per client, and the
    # replay-id lock is pg_advisory_xact_lock, transaction-scoped (tests/deploy/test_pgbouncer.py).
    if env.bool("DB_PGBOUNCER", default=False):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
else:
    # The embedded default takes concurrent writers (agents replying and typing, end users writing,
    # the in-process sweeps): WAL lets readers run beside the one writer; IMMEDIATE takes the write
    # lock at BEGIN, so a transaction waits its turn (up to the busy timeout) instead of failing with
    # "database is locked" when a deferred reader tries to become a writer (tests/test_embedded.py).
    # ccp.core.sqlite is Django's backend with each process's idle connections kept for the next
    # request (ccp/core/sqlite/base.py; at most SQLITE_POOL_SIZE), and WAL set once per process.
    SQLITE_POOL_SIZE = env.int("SQLITE_POOL_SIZE", default=8)
    DATABASES = {
        "default": {
            "ENGINE": "ccp.core.sqlite",
            "NAME": env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA synchronous=NORMAL",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A write whose transaction lost a deadlock or serialization conflict is run again this many times,
# after a jittered exponential backoff starting at this many seconds, then answers 503 retry_later
# (ccp/core/db.py).
DB_CONFLICT_RETRIES = env.int("DB_CONFLICT_RETRIES", default=3)
DB_CONFLICT_BACKOFF_SECONDS = env.float("DB_CONFLICT_BACKOFF_SECONDS", default=0.05)

# --- redis: channel layer + celery ------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py's 5 s socket timeout equals channels-redis's blocking read and kills
                # idle consumers; its default pool cap fails with many websockets.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "max_connections": 1000}],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="ccp"),
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="ccp")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
# Which concern each task belongs to (docs/deployment.md#celery-queues-per-concern). With
# CELERY_QUEUES_PER_CONCERN on, each concern has its queue `<CELERY_QUEUE>.<concern>`, so a worker per
# concern (`celery worker -Q ccp.webhooks`) keeps a slow partner endpoint or a model training from
# delaying offers. Off (the default), every task goes to CELERY_QUEUE and one worker consumes all.
# tests/deploy/test_task_routes.py fails when a task is missing here.
CELERY_TASK_CONCERNS = {
    "events.relay": "webhooks",
    "events.deliver": "webhooks",
    "routing.tasks.routing_dispatch_task": "routing",
    "routing.tasks.work_expire_task": "routing",
    "routing.tasks.work_expire_batch_task": "routing",
    "routing.tasks.work_acw_end_task": "routing",
    "routing.tasks.routing_sweep_task": "routing",
    "ccp.operations.tasks.realtime_push_task": "routing",
    "events.sweep": "sweeps",
    "events.prune": "sweeps",
    "conversations.tasks.sla_sweep_task": "sweeps",
    "ccp.operations.tasks.operations_rollup_task": "sweeps",
    "core.idempotency_prune": "sweeps",
    "routing.tasks.tuned_model_train_task": "training",
    "routing.tasks.tuned_model_train_all_task": "training",
}
CELERY_QUEUES_PER_CONCERN = env.bool("CELERY_QUEUES_PER_CONCERN", default=False)
CELERY_TASK_ROUTES = (
    {task: {"queue": f"{CELERY_TASK_DEFAULT_QUEUE}.{concern}"} for task, concern in CELERY_TASK_CONCERNS.items()}
    if CELERY_QUEUES_PER_CONCERN
    else {}
)

# --- event bus (ccp.events; docs/events.md) ----------------------------------------------------
# Check every standard event's payload against its declaration (ccp/events/payloads.py) on publish.
# The test suite turns it on; in production it costs a schema validation per event for no change.
EVENTS_VALIDATE_PAYLOADS = env.bool("EVENTS_VALIDATE_PAYLOADS", default=False)
EVENTS_RETENTION = timedelta(hours=env.int("EVENTS_RETENTION_HOURS", default=72))
EVENTS_STREAM_HEARTBEAT_SECONDS = env.float("EVENTS_STREAM_HEARTBEAT_SECONDS", default=15.0)
EVENTS_STREAM_PAGE = 200
# An open stream re-checks its token (revoked, expired, scope removed, app deactivated) before each
# page it sends and at least this often when idle, and then closes (docs/events.md).
EVENTS_STREAM_RECHECK_SECONDS = env.float("EVENTS_STREAM_RECHECK_SECONDS", default=2.0)
# Concurrent streams per partner (each holds a Redis connection); one more is refused with 429
# too_many_streams. A stream's slot is a lease in Redis renewed at each re-check, so the slot of a
# server that died frees itself after EVENTS_STREAM_LEASE_SECONDS.
EVENTS_STREAM_MAX_PER_PARTNER = env.int("EVENTS_STREAM_MAX_PER_PARTNER", default=5)
EVENTS_STREAM_LEASE_SECONDS = env.int("EVENTS_STREAM_LEASE_SECONDS", default=30)
EVENTS_REDIS_PREFIX = env.str("EVENTS_REDIS_PREFIX", default="ccp:events")
EVENTS_SWEEP_INTERVAL_SECONDS = env.int("EVENTS_SWEEP_INTERVAL_SECONDS", default=30)
EVENTS_SWEEP_GRACE_SECONDS = env.int("EVENTS_SWEEP_GRACE_SECONDS", default=30)
EVENTS_SWEEP_BATCH = 5000
EVENTS_DELIVERY_CONNECT_TIMEOUT = 3
EVENTS_DELIVERY_READ_TIMEOUT = 10
# One total deadline per webhook attempt: connect, send, headers and body. A receiver trickling its
# answer is cut here (the per-read timeouts above never fire on a trickle); the attempt is a failure.
EVENTS_DELIVERY_DEADLINE_SECONDS = env.float("EVENTS_DELIVERY_DEADLINE_SECONDS", default=15.0)
# Webhook attempts in flight per partner across all workers (0: no limit); beyond it a delivery waits
# EVENTS_DELIVERY_PARTNER_DEFER_SECONDS (×1–2, jittered) unattempted, so a slow partner holds at most
# this many worker threads. Keep it below the workers' concurrency.
EVENTS_DELIVERY_PARTNER_CONCURRENCY = env.int("EVENTS_DELIVERY_PARTNER_CONCURRENCY", default=2)
EVENTS_DELIVERY_PARTNER_DEFER_SECONDS = env.float("EVENTS_DELIVERY_PARTNER_DEFER_SECONDS", default=1.0)
# ... after waiting this long in the worker for one of the partner's slots to free (a prompt partner's
# slot frees within milliseconds; a slow partner's does not, and then the thread is given back).
EVENTS_DELIVERY_PARTNER_WAIT_SECONDS = env.float("EVENTS_DELIVERY_PARTNER_WAIT_SECONDS", default=0.05)
# How long a worker owns a delivery it is sending; after that (a killed worker) the sweep resends it.
# Keep it above EVENTS_DELIVERY_DEADLINE_SECONDS, or a slow but live attempt may be sent twice.
EVENTS_DELIVERY_CLAIM_SECONDS = env.int("EVENTS_DELIVERY_CLAIM_SECONDS", default=75)
EVENTS_DELIVERY_BACKOFF_BASE_SECONDS = env.float("EVENTS_DELIVERY_BACKOFF_BASE_SECONDS", default=10.0)
EVENTS_DELIVERY_BACKOFF_MAX_SECONDS = env.float("EVENTS_DELIVERY_BACKOFF_MAX_SECONDS", default=3600.0)
EVENTS_DELIVERY_RETRY_WINDOW = timedelta(hours=env.int("EVENTS_DELIVERY_RETRY_HOURS", default=24))
# Webhooks may target 127.0.0.1 / localhost only in development, tests and the demo.
WEBHOOK_ALLOW_LOOPBACK = env.bool("WEBHOOK_ALLOW_LOOPBACK", default=DEBUG)
CELERY_BEAT_SCHEDULE.update(
    {
        "events-sweep": {
            "task": "events.sweep",
            "schedule": timedelta(seconds=EVENTS_SWEEP_INTERVAL_SECONDS),
        },
        "events-prune": {"task": "events.prune", "schedule": timedelta(hours=1)},
    }
)
# --- end event bus -----------------------------------------------------------------------------

# --- routing (docs/routing.md) -----------------------------------------------------------------
ROUTING_OFFER_TIMEOUT = env.int("ROUTING_OFFER_TIMEOUT", default=30)
# A call rings shorter than a chat waits: the caller hears ringing (a queue may set its own).
ROUTING_VOICE_OFFER_TIMEOUT_SECONDS = env.int("ROUTING_VOICE_OFFER_TIMEOUT_SECONDS", default=20)
# Routing defaults per channel type (docs/routing.md, "Asynchronous channels"): the capacity bucket
# its work counts against (one unit, as a chat) and the offer timeout when no queue sets a longer one.
# An e-mail waits in the agent's list for hours anyway: an offer need not expire in 30 seconds.
ROUTING_CHANNEL_TYPES = {
    "email": {"capacity": "messaging", "offer_timeout_seconds": env.int("ROUTING_EMAIL_OFFER_TIMEOUT", default=300)},
}
ROUTING_DEFAULT_STRATEGY = env.str("ROUTING_DEFAULT_STRATEGY", default="most_available")
ROUTING_AWAY_AFTER_IGNORED = env.int("ROUTING_AWAY_AFTER_IGNORED", default=3)
ROUTING_EXCLUDE_RECENT = 5
ROUTING_DISPATCH_BATCH = 200  # queued items one dispatch round locks and offers at most
ROUTING_DISPATCH_PENDING_SECONDS = 10  # a queued dispatch task that never started is retried after this
ROUTING_DISPATCH_MAX_PASSES = 20  # dispatch passes of one task while triggers keep arriving
ROUTING_REDIS_PREFIX = "ccp:routing"  # Redis keys of the coalesced dispatch requests
PARTNER_ROUTING_DEADLINE_SECONDS = env.int("PARTNER_ROUTING_DEADLINE_SECONDS", default=60)
ROUTING_SWEEP_INTERVAL_SECONDS = env.int("ROUTING_SWEEP_INTERVAL_SECONDS", default=5)
CELERY_BEAT_SCHEDULE["routing-sweep"] = {
    "task": "routing.tasks.routing_sweep_task",
    "schedule": timedelta(seconds=ROUTING_SWEEP_INTERVAL_SECONDS),
}

# --- AI routing (docs/ai-routing.md) --------------------------------------------------------------
# An OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, hosted). Unset: no generative
# step; routing uses the tuned model or the platform, summaries are extractive, drafts answer 503.
AI_PROVIDER_BASE_URL = env.str("AI_PROVIDER_BASE_URL", default="")
AI_PROVIDER_MODEL = env.str("AI_PROVIDER_MODEL", default="")
AI_PROVIDER_API_KEY = env.str("AI_PROVIDER_API_KEY", default="")
AI_PROVIDER_TIMEOUT = env.float("AI_PROVIDER_TIMEOUT", default=5.0)
# Daily retraining of each AI-enabled tenant's tuned model, only with enough new feedback since the last.
AI_TRAINING_ENABLED = env.bool("AI_TRAINING_ENABLED", default=True)
AI_TRAINING_HOUR_UTC = env.int("AI_TRAINING_HOUR_UTC", default=3)
AI_TRAINING_MIN_NEW_FEEDBACK = env.int("AI_TRAINING_MIN_NEW_FEEDBACK", default=50)
if AI_TRAINING_ENABLED:
    CELERY_BEAT_SCHEDULE["routing-ai-training"] = {
        "task": "routing.tasks.tuned_model_train_all_task",
        "schedule": crontab(hour=AI_TRAINING_HOUR_UTC, minute=0),
    }

# --- conversations -------------------------------------------------------------------------------
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=25 * 1024 * 1024)
# Long bodies (docs/partner-api.md, "Limits"): an e-mail's text part is often tens of thousands of
# characters; its sanitized HTML, its subject (RFC 5322's line limit) and the request body are capped too.
MESSAGE_MAX_CHARS = env.int("MESSAGE_MAX_CHARS", default=100_000)
MESSAGE_HTML_MAX_CHARS = env.int("MESSAGE_HTML_MAX_CHARS", default=1_000_000)
MESSAGE_SUBJECT_MAX_CHARS = 998
DEFAULT_ACW_SECONDS = env.int("DEFAULT_ACW_SECONDS", default=0)
# An open agent websocket re-checks its session and membership this often (and at once on logout,
# membership removal or deactivation) and closes with 4401 when either has ended (docs/workspace.md).
AGENT_SOCKET_RECHECK_SECONDS = env.float("AGENT_SOCKET_RECHECK_SECONDS", default=5.0)

# --- operations (ccp/operations; docs/reports.md) ------------------------------------------------
# An abandon within this many seconds of entering routing is a short abandon (not held against the
# service level).
SHORT_ABANDON_SECONDS = env.int("SHORT_ABANDON_SECONDS", default=5)
# Service-level threshold for work without a queue (each queue has its own, default 20 s).
SERVICE_LEVEL_SECONDS = env.int("SERVICE_LEVEL_SECONDS", default=20)
# A closed conversation is resolved at first contact when the same contact opens no new conversation on
# the same channel within this many hours.
FCR_WINDOW_HOURS = env.int("FCR_WINDOW_HOURS", default=24)
# The rollup of settled work (ccp/operations/services/rollup.py): buckets are rolled up once they are
# FCR_WINDOW_HOURS + this old and final; each beat run rolls up at most ROLLUP_CHUNK_DAYS per tenant.
ROLLUP_MIN_AGE_HOURS = env.int("ROLLUP_MIN_AGE_HOURS", default=1)
ROLLUP_CHUNK_DAYS = env.int("ROLLUP_CHUNK_DAYS", default=7)
ROLLUP_EVERY_SECONDS = env.int("ROLLUP_EVERY_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["operations-rollup"] = {
    "task": "ccp.operations.tasks.operations_rollup_task",
    "schedule": ROLLUP_EVERY_SECONDS,
}
# SLA clocks (docs/reports.md, "SLA"): the sweep publishes sla.warning (80 % of a target) and
# sla.breached (at the due instant) this often; the embedded stack runs it in its in-process sweeper.
SLA_SWEEP_SECONDS = env.int("SLA_SWEEP_SECONDS", default=15)
CELERY_BEAT_SCHEDULE["conversations-sla-sweep"] = {
    "task": "conversations.tasks.sla_sweep_task",
    "schedule": SLA_SWEEP_SECONDS,
}
# Supervisors' live snapshot is pushed at most this often per tenant (changes in between are coalesced).
REPORTS_REALTIME_PUSH_SECONDS = env.float("REPORTS_REALTIME_PUSH_SECONDS", default=1.0)

# Requests per partner (all its tokens together), counted in the shared cache; over it → 429.
PARTNER_RATE_LIMIT = env.str("PARTNER_RATE_LIMIT", default="60000/min")
# Per-process caches of hot lookups (ccp/core/local_cache.py: partner tokens, channels, a package's
# outbound event type, an agent's membership): a change made in another process is seen within this
# many seconds (at once in the process that made it). 0 turns them off.
HOT_LOOKUP_CACHE_SECONDS = env.float("HOT_LOOKUP_CACHE_SECONDS", default=5.0)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "ccp.core.cache.RedisCache",  # one Redis pool per process (ccp/core/cache.py)
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="ccp"),
        }
    }
    # Sessions are read from Redis (written to both): one query less on every agent request.
    # ccp.core.sessions: Django's cached_db, but a failed cache refill is not an error (Redis down).
    SESSION_ENGINE = "ccp.core.sessions"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- auth -------------------------------------------------------------------------------------
if env.str("PASSWORD_HASHERS", default=""):  # e.g. a test server that must read the test suite's fast hashes
    PASSWORD_HASHERS = [h.strip() for h in env.list("PASSWORD_HASHERS") if h.strip()]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
AUTHENTICATION_BACKENDS = [
    "ccp.core.auth.LoginLockoutBackend",  # django-axes: refuses locked-out username + address first
    "django.contrib.auth.backends.ModelBackend",
]
# Login lockout (django-axes; docs/lockout-and-revocation.md): after AXES_FAILURE_LIMIT wrong
# passwords for one username from one address, /accounts/login/ and /admin/login/ refuse that pair
# (429) until AXES_COOLOFF_MINUTES pass without another try, or an operator lifts it
# (`manage.py axes_reset_username <name>`, or the admin's Access attempts).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# POST /o/token/ requests per client id and client address (refused ones count); over it → 429.
OAUTH_TOKEN_RATE_LIMIT = env.str("OAUTH_TOKEN_RATE_LIMIT", default="20/min")
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/agent/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- i18n / time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth2_provider.contrib.rest_framework.OAuth2Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ccp.core.edge.GuardedJSONParser"],
    "EXCEPTION_HANDLER": "ccp.core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "ccp.core.schema.CcpAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ccp partner API",
    "DESCRIPTION": "The public contract partners and agent clients code against (docs/partner-api.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # choice sets sharing a field name ("status") get their own component names
    "ENUM_NAME_OVERRIDES": {
        "CallStatusEnum": "conversations.call_states.CallStatus",
        "CallControlResultStatusEnum": [("done", "done"), ("failed", "failed")],
    },
}

PARTNER_SCOPES = {
    "packages": "Create, edit and publish communication packages",
    "interactions": "Send end users' interactions and read conversations",
    "routing": "Route conversations and read agents (partner-owned routing)",
    "consent": "Read and change end users' consent (partner-owned consent)",
    "events": "Read the event stream and manage webhook subscriptions",
}
OAUTH2_PROVIDER = {
    "SCOPES": PARTNER_SCOPES,
    "DEFAULT_SCOPES": list(PARTNER_SCOPES),
    "SCOPES_BACKEND_CLASS": "ccp.packages.oauth.ConnectedAppScopes",
    "OAUTH2_VALIDATOR_CLASS": "ccp.packages.oauth.ConnectedAppValidator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("ACCESS_TOKEN_EXPIRE_SECONDS", default=3600),
    "PKCE_REQUIRED": False,
    # Access and refresh tokens are stored as their SHA-256 only (the `token` column stays blank):
    # a database dump or backup holds no usable bearer token. Lookups go by `token_checksum`.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
}

OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"

# Idempotency-Key rows answer retries for 24 h, then are ignored and pruned (docs/partner-api.md).
IDEMPOTENCY_KEY_TTL = timedelta(hours=env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24))
CELERY_BEAT_SCHEDULE["core-idempotency-prune"] = {
    "task": "core.idempotency_prune",
    "schedule": timedelta(hours=1),
}

# --- the API edge (ccp/core/edge.py; docs/partner-api.md "Limits") ----------------------------------
# A request body larger than this answers 413 payload_too_large before anything reads it (attachments
# are references, never inline bytes; 2.5 MiB is Django's own default); Django's form-body limit follows.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2_621_440)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# JSON nested deeper than this (objects and arrays) answers 400 invalid, before the parser recurses.
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)

# --- partner-supplied JSON schemas (ccp/core/untrusted_schema.py) -----------------------------------
PARTNER_SCHEMA_MAX_BYTES = env.int("PARTNER_SCHEMA_MAX_BYTES", default=64 * 1024)
# JSON levels of a record's schema (the object whose properties are the fields); below API_MAX_JSON_DEPTH.
PARTNER_SCHEMA_MAX_DEPTH = env.int("PARTNER_SCHEMA_MAX_DEPTH", default=20)
PARTNER_SCHEMA_PATTERN_MAX_CHARS = env.int("PARTNER_SCHEMA_PATTERN_MAX_CHARS", default=1000)
# The memory re2 may use for one compiled pattern; a pattern that needs more is refused at creation.
PARTNER_SCHEMA_PATTERN_MAX_MEM = env.int("PARTNER_SCHEMA_PATTERN_MAX_MEM", default=1024 * 1024)

# --- degraded mode (docs/events.md "When Redis or PostgreSQL fail") -------------------------------
# Retry-After (seconds) of the 503 `service_unavailable` answered while PostgreSQL (or, where the
# request cannot do without it, Redis) is unreachable.
SERVICE_UNAVAILABLE_RETRY_AFTER = env.int("SERVICE_UNAVAILABLE_RETRY_AFTER", default=2)
# After a Redis failure, Redis-carried side effects (websocket push, relay enqueue, stream wake-ups,
# rate-limit counting) are skipped for this many seconds instead of being retried on every request;
# the outbox sweep catches them up when Redis is back.
REDIS_DOWN_BACKOFF_SECONDS = env.float("REDIS_DOWN_BACKOFF_SECONDS", default=2.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes logs every login at INFO; lockouts (WARNING) still show
    "loggers": {"django.request": {"level": "ERROR"}, "daphne": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

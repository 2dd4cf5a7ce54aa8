"""Project wiring: every setting comes from the environment, with safe production defaults.

DATABASE_URL (default: SQLite under var/), REDIS_URL (unset: background jobs run in-process),
SECRET_KEY, DEBUG, ALLOWED_HOSTS, OMNISHOP_VAR_DIR. See docs/ARCHITECTURE.md.
"""

import contextlib
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue as KombuQueue

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("OMNISHOP_VAR_DIR") or PROJECT_DIR / "var")


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
TESTING = env_bool("OMNISHOP_TESTING", False) or "pytest" in sys.modules
_insecure_dev_key = "omnishop-insecure-development-key-change-me-0123456789abcdefghijklmnop"
SECRET_KEY = os.environ.get("SECRET_KEY") or (_insecure_dev_key if (DEBUG or TESTING) else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off (or run with DEBUG=1 for development).")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if not DEBUG else "*")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.headless",
    "ninja",
    "omnishop.core",
    "omnishop.channels",
    "omnishop.catalog",
    "omnishop.inventory",
    "omnishop.customers",
    "omnishop.datahub",
    "omnishop.backoffice",
    "omnishop.recommendations",
    "omnishop.search",
    "omnishop.storefront",
    "omnishop.payments",
    "omnishop.orders",
    "omnishop.shipping",
    "omnishop.webhooks",
    "omnishop.connectors",
    "omnishop.tills",
    "omnishop.feeds",
    "omnishop.support",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "omnishop.edge.ApiEdgeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The shop's language (cookie from the header's switch, else Accept-Language); English under the JSON APIs.
    "omnishop.edge.ShopLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "omnishop.urls"
# Under /api/ and /_allauth/ a CSRF refusal is the JSON error envelope, elsewhere Django's page.
CSRF_FAILURE_VIEW = "omnishop.edge.csrf_failure"
WSGI_APPLICATION = "omnishop.wsgi.application"

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
                "omnishop.storefront.web.common.shop",
                "csp.context_processors.nonce",  # {{ CSP_NONCE }} for the rare page that needs inline script
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
_sqlite_path = VAR_DIR / "omnishop.sqlite3"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or f"sqlite:///{_sqlite_path}")}
DATABASE_VENDOR = "sqlite" if DATABASES["default"]["ENGINE"].endswith("sqlite3") else "postgresql"
if DATABASE_VENDOR == "sqlite":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so two
    # transactions never deadlock upgrading read locks (the classic SQLITE_BUSY in the middle of work).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
            "PRAGMA busy_timeout=20000;PRAGMA cache_size=-20000;"
        ),
    }
    # Tests use a file (not :memory:) so that a real Celery worker process can open the same database.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("OMNISHOP_TEST_SQLITE") or str(VAR_DIR / f"test-{os.getpid()}.sqlite3")
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DB_CONN_MAX_AGE", "600"))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})
    if os.environ.get("OMNISHOP_TEST_DB_NAME"):
        DATABASES["default"]["TEST"] = {"NAME": os.environ["OMNISHOP_TEST_DB_NAME"]}
# A connection pooler between Omnishop and PostgreSQL (ADR 0031): "" (none) or "pgbouncer" (transaction pool
# mode). A server session then lives only as long as one transaction, so nothing may outlive it: no server-side
# prepared statements (Debian's PgBouncer 1.18 does not track them; psycopg's automatic preparation off too),
# no WITH HOLD cursors behind `.iterator()`. Advisory locks are transaction-scoped already.
OMNISHOP_DB_POOLER = os.environ.get("OMNISHOP_DB_POOLER", "")
if OMNISHOP_DB_POOLER not in {"", "pgbouncer"}:
    raise ImproperlyConfigured("OMNISHOP_DB_POOLER must be empty or pgbouncer.")
# Hot statements (stock taking, storefront reads) run as server-side prepared statements unless a pooler is in
# the way.
OMNISHOP_DB_PREPARE = not OMNISHOP_DB_POOLER
if DATABASE_VENDOR == "postgresql" and OMNISHOP_DB_POOLER:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
# Opt-in (ADR 0056): every ORM statement with server-side parameters, psycopg preparing a statement once its
# connection has run it twice. The whole PostgreSQL suite passes with it, but checkout measured slower with it on
# (orders.checkout_http, A/B on 5 Dec), so Django's client-side binding stays the default; the hot statements
# are prepared one by one (core.statements, the storefront's reads, the stock take).
OMNISHOP_DB_SERVER_BINDING = env_bool("OMNISHOP_DB_SERVER_BINDING", False)
if DATABASE_VENDOR == "postgresql" and OMNISHOP_DB_SERVER_BINDING and OMNISHOP_DB_PREPARE:
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = int(
        os.environ.get("OMNISHOP_DB_PREPARE_THRESHOLD", "2")
    )

# A streaming read replica (docs/scaling.md, ADR 0030): explicitly marked read paths (catalogue, search,
# analytics) read from it; everything else, and any request or client that wrote lately, uses the primary.
# PostgreSQL only; without DATABASE_REPLICA_URL there is one database and no router.
OMNISHOP_REPLICA_STICKY_SECONDS = int(os.environ.get("OMNISHOP_REPLICA_STICKY_SECONDS", "5"))
OMNISHOP_REPLICA_MAX_LAG_SECONDS = float(os.environ.get("OMNISHOP_REPLICA_MAX_LAG_SECONDS", "2"))
OMNISHOP_REPLICA_CHECK_SECONDS = float(os.environ.get("OMNISHOP_REPLICA_CHECK_SECONDS", "1"))
_replica_url = os.environ.get("DATABASE_REPLICA_URL", "")
if _replica_url and DATABASE_VENDOR == "postgresql":
    DATABASES["replica"] = dj_database_url.parse(_replica_url)
    DATABASES["replica"].update(
        CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"],
        CONN_HEALTH_CHECKS=True,
        # An unreachable replica must cost a short wait once per check interval, not a hung request.
        OPTIONS={"connect_timeout": 2},
        # Under test the alias mirrors the test database (a replica cannot create one: it is read-only).
        TEST={"MIRROR": "default"},
    )
    DATABASE_ROUTERS = ["omnishop.core.dbrouting.ReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "omnishop.core.dbrouting.ReadYourWritesMiddleware",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, background work -----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# One cache shared by every worker and process: rate-limit counters (the API's failed credentials, allauth's
# log-in limits) must add up across gunicorn workers. Redis when configured, else a database table
# (`omnishop_cache`, created by core's migrations).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "omnishop_cache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
# Without Redis, background jobs run in-process, at once, in the caller (the embedded default).
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
# A job whose worker process dies (SIGKILL, out of memory) goes back on its queue instead of being marked
# failed; every job is written to be run again safely (ADR 0031). A whole worker killed leaves its job
# unacknowledged in Redis: another worker takes it after the visibility timeout, which must therefore exceed
# the longest job (an import can run many minutes), or a job still running is handed to a second worker.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("OMNISHOP_CELERY_VISIBILITY_TIMEOUT", "3600"))
}
# Jobs on separate queues, so a long import or a retraining never delays the checkout's jobs: one worker per
# queue in production (`omnishop worker --queues imports`); a worker without --queues consumes all five.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [
    KombuQueue(name, routing_key=name) for name in ("checkout", "delivery", "imports", "training", "default")
]
CELERY_TASK_ROUTES = {
    # checkout-adjacent: stock held by abandoned checkouts, stock given to backordered orders
    "omnishop.inventory.tasks.expire_reservations": {"queue": "checkout"},
    "omnishop.orders.tasks.*": {"queue": "checkout"},
    # delivery to the outside world: the outbox relay (webhooks, connectors' pushes), connectors, e-mail
    "omnishop.core.tasks.relay": {"queue": "delivery"},
    "omnishop.connectors.tasks.*": {"queue": "delivery"},
    "omnishop.payments.tasks.*": {"queue": "delivery"},  # asks Stripe what a lost answer did
    "omnishop.support.tasks.poll_imap": {"queue": "delivery"},
    "omnishop.support.tasks.resend_failed_email": {"queue": "delivery"},
    "omnishop.datahub.tasks.*": {"queue": "imports"},
    "omnishop.recommendations.tasks.*": {"queue": "training"},
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "purge-expired-idempotency-keys": {
        "task": "omnishop.core.tasks.purge_expired_idempotency_keys",
        "schedule": 3600.0,
    },
    "purge-rate-counters": {"task": "omnishop.core.tasks.purge_rate_counters", "schedule": 3600.0},
}
# Without Redis there is no Celery beat: `omnishop serve` runs this schedule in its workers (core/scheduler.py;
# auto = only without REDIS_URL, on, off), checking for due jobs every OMNISHOP_SCHEDULER_TICK seconds.
OMNISHOP_SCHEDULER = os.environ.get("OMNISHOP_SCHEDULER", "auto")
if OMNISHOP_SCHEDULER not in {"auto", "on", "off"}:
    raise ImproperlyConfigured("OMNISHOP_SCHEDULER must be auto, on or off.")
OMNISHOP_SCHEDULER_TICK = float(os.environ.get("OMNISHOP_SCHEDULER_TICK", "5"))

# --- Inventory -----------------------------------------------------------------------------------------
# Expired checkout holds go back on sale within a minute.
CELERY_BEAT_SCHEDULE["inventory-expire-reservations"] = {
    "task": "omnishop.inventory.tasks.expire_reservations",
    "schedule": 60.0,
}

# --- Auth -----------------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Customers: shopper accounts through allauth (docs/customers.md). The adapter answers the per-account
# lock-out after repeated wrong passwords with a 429; sign-up and verified e-mails link the Customer.
ACCOUNT_ADAPTER = "omnishop.customers.accounts.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Omnishop] "
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
# Mandatory verification is what lets sign-up keep quiet about existing accounts: a sign-up with a known
# e-mail answers exactly like a new one ("check your e-mail") and mails the owner instead of creating an
# account (ACCOUNT_PREVENT_ENUMERATION; with "optional", allauth must say "taken" to keep e-mails unique).
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True  # proving the e-mail just signed up with finishes the log-in
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
HEADLESS_ONLY = False
HEADLESS_CLIENTS = ("app", "browser")
HEADLESS_TOKEN_STRATEGY = "allauth.headless.tokens.strategies.sessions.SessionTokenStrategy"
LOGIN_REDIRECT_URL = "/"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@omnishop.localhost")

# --- API ------------------------------------------------------------------------------------------------
# Reverse proxies in front of the server (CIDRs, comma-separated): only when a request comes from one is its
# X-Forwarded-For believed, and the client is the right-most hop that is not one of them (rate limits, logs).
OMNISHOP_TRUSTED_PROXIES = env_list("OMNISHOP_TRUSTED_PROXIES")
OMNISHOP_API_MAX_BODY = int(os.environ.get("OMNISHOP_API_MAX_BODY", str(1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = OMNISHOP_API_MAX_BODY
OMNISHOP_IDEMPOTENCY_TTL_HOURS = int(os.environ.get("OMNISHOP_IDEMPOTENCY_TTL_HOURS", "48"))
# A request still "in progress" after this long belongs to a worker that died: a retry with its key runs it.
OMNISHOP_IDEMPOTENCY_ABANDONED_SECONDS = int(os.environ.get("OMNISHOP_IDEMPOTENCY_ABANDONED_SECONDS", "300"))
OMNISHOP_DEFAULT_PHONE_REGION = os.environ.get("OMNISHOP_DEFAULT_PHONE_REGION", "GB")
# The shop's public origin (https://shop.example) when a reverse proxy sits in front: webhooks signed over the
# URL their sender was given (Twilio) are checked against it. Empty: the URL the request arrived at.
OMNISHOP_PUBLIC_URL = os.environ.get("OMNISHOP_PUBLIC_URL", "")
# Twilio account's auth token: the voice webhooks' signatures are checked with it (unset: all refused).
OMNISHOP_TWILIO_AUTH_TOKEN = os.environ.get("OMNISHOP_TWILIO_AUTH_TOKEN", "")
NINJA_PAGINATION_PER_PAGE = 20

# --- Support desk (docs/support.md) ---------------------------------------------------------------------------
# Where shoppers reach the shop: links in e-mails (CSAT survey, tracking in canned replies) start with it.
OMNISHOP_SITE_URL = os.environ.get("OMNISHOP_SITE_URL", "http://127.0.0.1:8000")
# A CSAT survey link works this many days after the conversation was resolved.
OMNISHOP_SUPPORT_SURVEY_DAYS = int(os.environ.get("OMNISHOP_SUPPORT_SURVEY_DAYS", "14"))
# The storefront's contact form: at most this many messages per client address per hour.
OMNISHOP_CONTACT_FORM_PER_HOUR = int(os.environ.get("OMNISHOP_CONTACT_FORM_PER_HOUR", "5"))
CELERY_BEAT_SCHEDULE["support-wake-snoozed"] = {
    "task": "omnishop.support.tasks.wake_snoozed",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["support-sla-breaches"] = {
    "task": "omnishop.support.tasks.mark_sla_breaches",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["support-send-surveys"] = {
    "task": "omnishop.support.tasks.send_surveys",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["support-overdue-callbacks"] = {
    "task": "omnishop.support.tasks.flag_overdue_callbacks",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["support-poll-imap"] = {
    "task": "omnishop.support.tasks.poll_imap",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["support-resend-email"] = {
    "task": "omnishop.support.tasks.resend_failed_email",
    "schedule": 300.0,
}

# --- I18n, time -----------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
# The web shop's own catalogue (storefront pages, 404/500); Django and allauth ship their own.
LOCALE_PATHS = [BASE_DIR / "locale"]
# The shopper's choice from the header's switch (Django's set_language); no script reads it.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"

# --- Security: safe when DEBUG is off (`manage.py check --deploy` is clean) -------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG and not TESTING:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Content-Security-Policy on every response (docs/adr/0012-content-security-policy.md): our own scripts,
# styles and images only, no plugins, no framing, forms post to us. Inline script only with the request's
# nonce ({{ CSP_NONCE }}; the nonce appears in the header only on pages that use it); no inline style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "frame-ancestors": [csp.NONE],
        "form-action": [csp.SELF],
    },
}

# --- Storefront / serving (omnishop serve): static files, admin CSS included, served by whitenoise --------
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "whitenoise.middleware.WhiteNoiseMiddleware",
)
with contextlib.suppress(OSError):  # whitenoise warns on every start when the folder is missing
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# The web shop sells in this channel; product images load only from these hosts (else a placeholder).
OMNISHOP_WEB_CHANNEL = os.environ.get("OMNISHOP_WEB_CHANNEL", "web")
OMNISHOP_IMAGE_HOSTS = tuple(h for h in os.environ.get("OMNISHOP_IMAGE_HOSTS", "").split(",") if h)
# Storefront reads run as server-side prepared statements on PostgreSQL (off: OMNISHOP_STOREFRONT_PREPARE=0;
# always off behind a pooler, OMNISHOP_DB_POOLER).
OMNISHOP_STOREFRONT_PREPARE = env_bool("OMNISHOP_STOREFRONT_PREPARE", True) and OMNISHOP_DB_PREPARE
# A storefront page on PostgreSQL in its LATERAL form (storefront/queries.py, ADR 0054); 0: the portable form.
OMNISHOP_STOREFRONT_LATERAL_PAGE = env_bool("OMNISHOP_STOREFRONT_LATERAL_PAGE", True)
# ...which also reads the page's availability (inventory's SQL, ADR 0057); 0: a statement of its own.
OMNISHOP_STOREFRONT_STOCK_IN_PAGE = env_bool("OMNISHOP_STOREFRONT_STOCK_IN_PAGE", True)
# PostgreSQL: pages without a search term are one range read of the per-channel product cards that triggers keep
# (ADR 0059); off: OMNISHOP_STOREFRONT_CARDS=0 computes each card from the catalogue tables per request.
OMNISHOP_STOREFRONT_CARDS = env_bool("OMNISHOP_STOREFRONT_CARDS", True)
# HTTP caching of public catalogue resources (core/http_cache.py, ADR 0024): seconds a shared cache may serve
# a copy without asking, then may keep serving it while it revalidates; and the longest an ETag derived from
# the catalogue version lives even when no change is seen.
OMNISHOP_HTTP_CACHE_MAX_AGE = int(os.environ.get("OMNISHOP_HTTP_CACHE_MAX_AGE", "60"))
OMNISHOP_HTTP_CACHE_STALE_WHILE_REVALIDATE = int(
    os.environ.get("OMNISHOP_HTTP_CACHE_STALE_WHILE_REVALIDATE", "300")
)
OMNISHOP_HTTP_CACHE_VERSION_TTL = int(os.environ.get("OMNISHOP_HTTP_CACHE_VERSION_TTL", "300"))
# The storefront API keeps rendered list and detail bodies per process, keyed by the catalogue version
# (storefront/response_cache.py, ADR 0043): at most this many bytes per worker; 0 turns it off.
OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES = int(
    os.environ.get("OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES", str(32 * 1024 * 1024))
)

# --- back-office: a refund above this amount (in the order's currency) also needs the finance role's
# permission payments.change_refund (backoffice/web/orders_money.py).
try:
    OMNISHOP_REFUND_LIMIT = Decimal(os.environ.get("OMNISHOP_REFUND_LIMIT", "500"))
except InvalidOperation:
    raise ImproperlyConfigured("OMNISHOP_REFUND_LIMIT must be a decimal amount.") from None
if not OMNISHOP_REFUND_LIMIT.is_finite() or OMNISHOP_REFUND_LIMIT < 0:
    raise ImproperlyConfigured("OMNISHOP_REFUND_LIMIT must be a decimal amount of 0 or more.")

# --- datahub: imports (limits keep a hostile file from taking the server down) ---------------------------
OMNISHOP_DATAHUB_UPLOAD_DIR = Path(
    os.environ.get("OMNISHOP_DATAHUB_UPLOAD_DIR") or VAR_DIR / "datahub" / "uploads"
)
# Server-path imports (staff only) may read files under these folders and nowhere else.
OMNISHOP_DATAHUB_IMPORT_ROOTS = env_list("OMNISHOP_DATAHUB_IMPORT_ROOTS", str(VAR_DIR / "datahub" / "inbox"))
OMNISHOP_DATAHUB_PROFILE_DIRS = env_list("OMNISHOP_DATAHUB_PROFILE_DIRS")
OMNISHOP_DATAHUB_MAX_UPLOAD_BYTES = int(
    os.environ.get("OMNISHOP_DATAHUB_MAX_UPLOAD_BYTES", str(512 * 1024**2))
)
OMNISHOP_DATAHUB_MAX_DECOMPRESSED_BYTES = int(
    os.environ.get("OMNISHOP_DATAHUB_MAX_DECOMPRESSED_BYTES", str(4 * 1024**3))
)
# A transactions import meets rows it staged before by their raw digest and leaves them uncleaned; off:
# every row is cleaned and compared by its cleaned content (the same outcome, slower).
OMNISHOP_DATAHUB_RECOGNISE_ROWS = env_bool("OMNISHOP_DATAHUB_RECOGNISE_ROWS", True)
OMNISHOP_DATAHUB_MAX_COLUMNS = int(os.environ.get("OMNISHOP_DATAHUB_MAX_COLUMNS", "1000"))
# Limits that hold while a file streams (docs/datahub.md "Limits"): memory stays bounded whatever the input.
OMNISHOP_DATAHUB_MAX_LINE_BYTES = int(os.environ.get("OMNISHOP_DATAHUB_MAX_LINE_BYTES", str(16 * 1024**2)))
OMNISHOP_DATAHUB_MAX_CELL_BYTES = int(os.environ.get("OMNISHOP_DATAHUB_MAX_CELL_BYTES", str(16 * 1024**2)))
OMNISHOP_DATAHUB_MAX_XML_RECORD_BYTES = int(
    os.environ.get("OMNISHOP_DATAHUB_MAX_XML_RECORD_BYTES", str(32 * 1024**2))
)
OMNISHOP_DATAHUB_MAX_XML_RECORD_ELEMENTS = int(
    os.environ.get("OMNISHOP_DATAHUB_MAX_XML_RECORD_ELEMENTS", "100000")
)
OMNISHOP_DATAHUB_MAX_XLSX_PART_BYTES = int(
    os.environ.get("OMNISHOP_DATAHUB_MAX_XLSX_PART_BYTES", str(32 * 1024**2))
)
OMNISHOP_DATAHUB_MAX_MATERIALISED_BYTES = int(
    os.environ.get("OMNISHOP_DATAHUB_MAX_MATERIALISED_BYTES", str(512 * 1024**2))
)
OMNISHOP_DATAHUB_MAX_BATCH_BYTES = int(os.environ.get("OMNISHOP_DATAHUB_MAX_BATCH_BYTES", str(64 * 1024**2)))
OMNISHOP_DATAHUB_BATCH_SIZE = int(os.environ.get("OMNISHOP_DATAHUB_BATCH_SIZE", "5000"))
# How long a running import is its runner's without a sign of life (each batch renews it): a worker that
# finds the job running under a lease that has not run out retries after it instead of running it twice.
OMNISHOP_DATAHUB_LEASE_SECONDS = int(os.environ.get("OMNISHOP_DATAHUB_LEASE_SECONDS", "300"))

# --- recommendations and search ---------------------------------------------------------------------------
OMNISHOP_RECS_EVENT_RETENTION_DAYS = int(os.environ.get("OMNISHOP_RECS_EVENT_RETENTION_DAYS", "400"))
# An order line counts as brought by a recommendation its shopper clicked within this many days before.
OMNISHOP_RECS_ATTRIBUTION_DAYS = int(os.environ.get("OMNISHOP_RECS_ATTRIBUTION_DAYS", "7"))
CELERY_BEAT_SCHEDULE["recommendations-retrain"] = {
    "task": "omnishop.recommendations.tasks.train_models",
    "schedule": float(os.environ.get("OMNISHOP_RECS_RETRAIN_SECONDS", str(6 * 3600))),
}
CELERY_BEAT_SCHEDULE["recommendations-purge-events"] = {
    "task": "omnishop.recommendations.tasks.purge_old_events",
    "schedule": 24 * 3600.0,
}

# --- orders, payments, shipping ---------------------------------------------------------------------------
# Stripe (payments): secret API key and the webhook signing secret; unset = the stripe provider is off.
OMNISHOP_STRIPE_SECRET_KEY = os.environ.get("OMNISHOP_STRIPE_SECRET_KEY", "")
OMNISHOP_STRIPE_WEBHOOK_SECRET = os.environ.get("OMNISHOP_STRIPE_WEBHOOK_SECRET", "")
# Another server speaking Stripe's API (stripe-mock; the tests' fake); the SDK's retries of a call whose
# connection broke or that got a 5xx (safe: every money-moving call carries an idempotency key).
OMNISHOP_STRIPE_API_BASE = os.environ.get("OMNISHOP_STRIPE_API_BASE", "https://api.stripe.com")
OMNISHOP_STRIPE_NETWORK_RETRIES = int(os.environ.get("OMNISHOP_STRIPE_NETWORK_RETRIES", "2"))
# An attempt whose answer was lost is settled (money given back) by this job, once it is 2 minutes old.
CELERY_BEAT_SCHEDULE["payments-settle-unknown-attempts"] = {
    "task": "omnishop.payments.tasks.settle_unknown_attempts",
    "schedule": 60.0,
}
# Carrier tracking webhooks older or newer than this many seconds are refused (replay protection).
OMNISHOP_SHIPPING_WEBHOOK_TOLERANCE = int(os.environ.get("OMNISHOP_SHIPPING_WEBHOOK_TOLERANCE", "300"))
# A cart checkout holds its cart this long at most: a checkout whose process died (kill -9, OOM) leaves the
# claim to expire, then a retry completes it. Longer than any live checkout should take (gunicorn kills a request
# at 30 s; granian, the default server, has no such watchdog): one that outlives its claim still commits at most
# once, the unique checkout key lets only one of it and its retry commit (docs/orders.md).
OMNISHOP_CHECKOUT_CLAIM_SECONDS = int(os.environ.get("OMNISHOP_CHECKOUT_CLAIM_SECONDS", "120"))
# Received stock goes to backordered orders (first in, first out) within a minute.
CELERY_BEAT_SCHEDULE["orders-allocate-backorders"] = {
    "task": "omnishop.orders.tasks.allocate_backorders",
    "schedule": 60.0,
}

# --- Outbox and relay (core/outbox.py, docs/events.md) ----------------------------------------------------
# Sinks fan an event out inside the relay's transaction (rows only); workers then do the network work.
OMNISHOP_OUTBOX_SINKS: list[str] = [
    "omnishop.webhooks.services.sink",  # one delivery per subscribed endpoint (docs/webhooks.md)
    "omnishop.feeds.services.sink",  # catalogue feeds marked stale (docs/feeds.md)
    # paid orders' purchase events, off the checkout's request (docs/recommendations.md, ADR 0036)
    "omnishop.recommendations.services.order_events.sink",
    # serving's catalogue generations, one statement per batch (ADR 0050); relays lock the counter rows in
    # one order, until their transaction commits
    "omnishop.recommendations.services.sellable.sink",
]
OMNISHOP_RELAY_WORKERS: list[str] = [
    "omnishop.inventory.services.stock_events.fold_stock_changes",  # coalesced stock.availability_changed
    "omnishop.webhooks.services.deliver_due",
    # product cards skipped while another transaction held their product (ADR 0059, storefront 0005), looked
    # for once a second
    "omnishop.storefront.cards.relay_step",
]
# auto = a relay thread in every `omnishop serve` worker when there is no Redis; on; off (run `omnishop relay`).
OMNISHOP_RELAY = os.environ.get("OMNISHOP_RELAY", "auto")
if OMNISHOP_RELAY not in {"auto", "on", "off"}:
    raise ImproperlyConfigured("OMNISHOP_RELAY must be auto, on or off.")
# An idle relay waits for work (ADR 0042). On PostgreSQL it LISTENs for the NOTIFY each commit of events sends and
# polls only every OMNISHOP_RELAY_IDLE_POLL seconds as a fallback; where it cannot LISTEN (SQLite, PgBouncer in
# transaction mode) it polls every OMNISHOP_RELAY_POLL seconds. Behind PgBouncer, OMNISHOP_RELAY_LISTEN_URL (a
# direct PostgreSQL URL, one connection per relay) lets it LISTEN anyway. After a wake-up it pauses
# OMNISHOP_RELAY_COALESCE seconds so that a burst of commits becomes one batch.
OMNISHOP_RELAY_POLL = float(os.environ.get("OMNISHOP_RELAY_POLL", "0.5"))
OMNISHOP_RELAY_IDLE_POLL = float(os.environ.get("OMNISHOP_RELAY_IDLE_POLL", "2.0"))
OMNISHOP_RELAY_LISTEN_URL = os.environ.get("OMNISHOP_RELAY_LISTEN_URL", "")
OMNISHOP_RELAY_COALESCE = float(os.environ.get("OMNISHOP_RELAY_COALESCE", "0.01"))
# A busy relay paces its rounds (docs/events.md, "Running the relay"): after a round with less than
# OMNISHOP_RELAY_FULL_ROUND items of work the next waits for the loop's pause, which doubles from
# OMNISHOP_RELAY_MIN_ROUND up to OMNISHOP_RELAY_MAX_ROUND while rounds stay light and halves when one is full or
# a worker hit a limit; OMNISHOP_RELAY_EMPTY_ROUNDS empty rounds after work are looked at again before the relay
# sleeps. OMNISHOP_RELAY_MIN_ROUND=0 turns pacing off.
OMNISHOP_RELAY_MIN_ROUND = float(os.environ.get("OMNISHOP_RELAY_MIN_ROUND", "0.02"))
OMNISHOP_RELAY_MAX_ROUND = float(os.environ.get("OMNISHOP_RELAY_MAX_ROUND", "0.08"))
OMNISHOP_RELAY_FULL_ROUND = int(os.environ.get("OMNISHOP_RELAY_FULL_ROUND", "32"))
OMNISHOP_RELAY_EMPTY_ROUNDS = int(os.environ.get("OMNISHOP_RELAY_EMPTY_ROUNDS", "2"))
# Stock changes of one SKU within this window become one stock.availability_changed event per channel.
OMNISHOP_STOCK_EVENT_WINDOW = float(os.environ.get("OMNISHOP_STOCK_EVENT_WINDOW", "1.0"))
# Outgoing HTTP may reach loopback only when this is on (tests and the demo's local fakes); never in production.
OMNISHOP_EGRESS_ALLOW_LOOPBACK = env_bool("OMNISHOP_EGRESS_ALLOW_LOOPBACK", False)
# A safety sweep: with Redis, production runs `omnishop relay` processes; beat's sweep catches up if none runs.
CELERY_BEAT_SCHEDULE["outbox-relay-sweep"] = {"task": "omnishop.core.tasks.relay", "schedule": 10.0}
OMNISHOP_OUTBOX_RETENTION_DAYS = int(os.environ.get("OMNISHOP_OUTBOX_RETENTION_DAYS", "30"))
CELERY_BEAT_SCHEDULE["outbox-purge"] = {"task": "omnishop.core.tasks.purge_outbox", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["inventory-purge-stock-marks"] = {
    "task": "omnishop.inventory.tasks.purge_folded_stock_marks",
    "schedule": 3600.0,
}

# --- Channel connectors (Shopify, WooCommerce; docs/connectors.md) ------------------------------------------
# Calls to a channel: time limit (seconds) and answer size; failed pushes retry with exponential backoff
# (base, cap) up to a number of attempts, then wait for a person in the admin. A claimed task's lease.
OMNISHOP_CONNECTOR_TIMEOUT = float(os.environ.get("OMNISHOP_CONNECTOR_TIMEOUT", "10"))
OMNISHOP_CONNECTOR_MAX_BYTES = 8 * 1024 * 1024
OMNISHOP_CONNECTOR_BACKOFF_SECONDS = float(os.environ.get("OMNISHOP_CONNECTOR_BACKOFF_SECONDS", "5"))
OMNISHOP_CONNECTOR_BACKOFF_MAX = 3600.0
OMNISHOP_CONNECTOR_MAX_ATTEMPTS = 25
OMNISHOP_CONNECTOR_LEASE_SECONDS = 120
CELERY_BEAT_SCHEDULE["connectors-reconcile"] = {
    "task": "omnishop.connectors.tasks.reconcile_all",
    "schedule": 24 * 3600.0,
}
CELERY_BEAT_SCHEDULE["connectors-pull-orders"] = {
    "task": "omnishop.connectors.tasks.pull_orders",
    "schedule": 300.0,
}
OMNISHOP_OUTBOX_SINKS.append("omnishop.connectors.services.sink")
OMNISHOP_RELAY_WORKERS.append("omnishop.connectors.services.work_due")

# --- Support desk e-mail (docs/support.md "E-mail", ADR 0021) ------------------------------------------------
# Inbound webhooks (django-anymail): Postmark's basic-auth "user:password" (shared by all providers' URLs)
# and Mailgun's HTTP webhook signing key. A provider without its secret answers 404.
ANYMAIL = {
    "WEBHOOK_SECRET": os.environ.get("OMNISHOP_SUPPORT_WEBHOOK_SECRET", ""),
    "MAILGUN_WEBHOOK_SIGNING_KEY": os.environ.get("OMNISHOP_SUPPORT_MAILGUN_SIGNING_KEY", ""),
}
# Replies go out with Reply-To: <local>+<conversation token>@<inbox domain>.
OMNISHOP_SUPPORT_REPLY_LOCAL_PART = os.environ.get("OMNISHOP_SUPPORT_REPLY_LOCAL_PART", "support")
# Self-hosted mail: the mailbox `omnishop support poll-imap` (and the periodic job) reads.
OMNISHOP_SUPPORT_IMAP_HOST = os.environ.get("OMNISHOP_SUPPORT_IMAP_HOST", "")
OMNISHOP_SUPPORT_IMAP_PORT = int(os.environ.get("OMNISHOP_SUPPORT_IMAP_PORT", "993"))
OMNISHOP_SUPPORT_IMAP_USER = os.environ.get("OMNISHOP_SUPPORT_IMAP_USER", "")
OMNISHOP_SUPPORT_IMAP_PASSWORD = os.environ.get("OMNISHOP_SUPPORT_IMAP_PASSWORD", "")
OMNISHOP_SUPPORT_IMAP_MAILBOX = os.environ.get("OMNISHOP_SUPPORT_IMAP_MAILBOX", "INBOX")
OMNISHOP_SUPPORT_IMAP_SSL = env_bool("OMNISHOP_SUPPORT_IMAP_SSL", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    # Client errors (409 insufficient_stock in a flash sale, 422 bad input) are answers, not incidents.
    "loggers": {"django.request": {"level": os.environ.get("REQUEST_LOG_LEVEL", "ERROR")}},
}

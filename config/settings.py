"""Quorum settings: one module, driven by environment variables.

Nothing set → the embedded default: SQLite in BASE_DIR, Celery tasks run in-process (eager),
local-memory cache, DEBUG on. Production sets DJANGO_DEBUG=0 (which then requires
DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS), DATABASE_URL and REDIS_URL.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


# --- Core -------------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG=0: set it to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(64))')"
        )
    SECRET_KEY = "django-insecure-quorum-development-key-never-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is required when DJANGO_DEBUG=0 (comma-separated host names)")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    # Quorum, floor by floor from the bottom (docs/architecture.md); core/ holds no models.
    "accounts",
    "projects",
    "annotation",
    "quality",
    "workbench",
    "delivery",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.ApiNotFoundMiddleware",  # JSON 404 under /api/ with DEBUG on too
    # Last, as django-axes asks: turns a sign-in refused for too many failures into its answer
    # (accounts.lockout). The fast lane knows it does nothing to token-authenticated requests.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 600))}
    if env_bool("DJANGO_DB_PREPARED_STATEMENTS", True) and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Server-side binding, and psycopg prepares a statement on its second run on a connection:
        # PostgreSQL then skips planning the hot path's statements, which took longer to plan than
        # to run (bench/README.md, throughput). Off (0) behind a pooler without prepared-statement
        # support (PgBouncer in transaction mode before 1.21).
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # IMMEDIATE makes writers take the lock when the transaction starts, so concurrent
            # writers queue instead of failing half-way; WAL lets readers go on meanwhile.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_RESULT_BACKEND = "cache+memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "quorum")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Jobs survive their worker (core/jobs.py). A task whose worker process dies mid-run (killed, out
# of memory) is put back on the queue and run again (its job is idempotent), not acknowledged as
# failed; a whole worker that dies leaves its message unacknowledged in Redis, handed out again
# after the visibility timeout, which must be longer than the longest job (else a live, slow job is
# handed to a second worker as well). The per-job attempt count stops a job that kills its
# worker every time.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
QUORUM_BROKER_VISIBILITY_TIMEOUT_SECONDS = env_int("QUORUM_BROKER_VISIBILITY_TIMEOUT_SECONDS", 6 * 3600)
# Publishing a task while the broker is unreachable gives up after this many seconds: the request
# answers 503 and the job is marked failed "queue unavailable" (core.jobs.job_publish).
QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS = env_int("QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS", 3)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": QUORUM_BROKER_VISIBILITY_TIMEOUT_SECONDS,
    "socket_connect_timeout": QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS,
}
CELERY_BROKER_CONNECTION_TIMEOUT = QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": QUORUM_BROKER_VISIBILITY_TIMEOUT_SECONDS}
# A running job writes a heartbeat with its progress; beat's job sweeps (every
# QUORUM_JOB_SWEEP_SECONDS) fail a running job silent for longer than this, and a job never queued.
QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS = env_int("QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS", 600)
QUORUM_JOB_SWEEP_SECONDS = env_int("QUORUM_JOB_SWEEP_SECONDS", 60)
# How many times a job is started (re-deliveries after a lost worker included) before it is failed.
QUORUM_JOB_MAX_ATTEMPTS = env_int("QUORUM_JOB_MAX_ATTEMPTS", 3)
# Tests only (tests/integration/test_jobs_worker_lost.py): a job that finds `<dir>/<kind>-<id>.hold`
# at a checkpoint writes its pid beside it and waits while the file exists, so a test can kill its
# worker mid-run deterministically. Unset in every real deployment.
QUORUM_JOB_HOLD_DIR = env_str("QUORUM_JOB_HOLD_DIR")

# --- Auth, i18n, static -----------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes first: it refuses a sign-in (form, /api/v1/auth/token/, /admin/) while its account or
# its address is locked out, before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed sign-ins are counted per account and, separately, per address (AccessAttempt rows in the
# database, so every process sees them); at the limit both are locked for the cool-off, which a
# further failure starts again. Staff unlock at /accounts/lockouts/ (accounts.views).
AXES_FAILURE_LIMIT = env_int("QUORUM_SIGNIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("QUORUM_SIGNIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = False  # a good password on one account must not clear an address's count
AXES_VERBOSE = False
# Behind a proxy the address is the left-most X-Forwarded-For one the proxy adds; directly, REMOTE_ADDR.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if env_bool("DJANGO_BEHIND_PROXY", False) else ("REMOTE_ADDR",)
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Third-party front-end packages come from npm (package.json) and are served from node_modules.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media")))

# --- REST framework ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication, with tokens remembered a few seconds per process.
        "core.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "core.filters.StrictFilterBackend",  # django-filter's, refusing a filter given empty
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env_int("QUORUM_API_PAGE_SIZE", 50),
    "DEFAULT_SCHEMA_CLASS": "core.schema.QuorumAutoSchema",
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    # DRF's parsers with the body limits applied before reading (core/parsers.py): 413, not a read.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser", "core.parsers.FormParser", "core.parsers.MultiPartParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Quorum API",
    "DESCRIPTION": "Data production for content-safety machine learning: data requests, projects, "
    "blockers, and (later) deliveries and model evaluation. Authenticate with "
    "`Authorization: Token <key>` (POST /api/v1/auth/token/).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI is served from our own static files (no CDN: the page must work offline and
    # under our Content-Security-Policy).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Name the enums by their model so the schema reads well and no two collide.
    "ENUM_NAME_OVERRIDES": {
        "ProjectPhaseEnum": "projects.models.Project.Phase",
        "DataRequestStatusEnum": "projects.models.DataRequest.Status",
        "BlockerStatusEnum": "projects.models.Blocker.Status",
        "FlagStatusEnum": "annotation.models.Flag.Status",
        "AssignmentStatusEnum": "annotation.models.Assignment.Status",
        "BlockerKindEnum": "projects.models.Blocker.Kind",
        "JobStatusEnum": "quality.models.QualityJob.Status",  # import jobs share it
        "QualityJobKindEnum": "quality.models.QualityJob.Kind",
        "AuditSampleStatusEnum": "quality.models.AuditSample.Status",
        "DeliveryStatusEnum": "delivery.models.Delivery.Status",  # evaluations share it
        "FileFormatEnum": "delivery.models.Format",  # import jobs share it
        "PredictionFormatEnum": "delivery.models.PredictionFormat",
        # The team and staff API (workbench.api.team, workbench.api.staff).
        "ModalityEnum": "projects.models.Modality",
        "UserRoleEnum": "accounts.models.User.Role",
        "TeamRoleEnum": "workbench.api.team.TEAM_ROLE_CHOICES",
    },
}

# --- Security ---------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    if env_bool("DJANGO_BEHIND_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Hosts that item media (image_url, video_url, audio_url) and guideline images may come from: the
# import refuses a URL on any other host (row and column), pages show none, and the pages'
# Content-Security-Policy lets the browser fetch images and media from these alone. Host names
# as in DJANGO_ALLOWED_HOSTS (".example.org": it and its subdomains; any port). Default: Quorum's
# own host names (DJANGO_ALLOWED_HOSTS, less "*"), so nothing leaves for an outside host.
QUORUM_MEDIA_HOSTS = env_list("QUORUM_MEDIA_HOSTS", [host for host in ALLOWED_HOSTS if host != "*"])


# Scripts and styles only from us; images and media only from us and the media hosts above:
# core.middleware puts them where the policy says {media}, from QUORUM_MEDIA_HOSTS as it is then.
QUORUM_CSP = env_str(
    "QUORUM_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src {media} data:; media-src {media}; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
)

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    # In-process (eager) tasks would log every success into the command's or server's output.
    "loggers": {} if REDIS_URL else {"celery.app.trace": {"level": "WARNING"}},
}

# --- Quorum -----------------------------------------------------------------------------------

QUORUM_MEDIA_URL_SCHEMES = ("http", "https")
# Uploaded files (item imports, evaluation predictions) larger than this are refused with 413, in
# the API before the body is read (core/parsers.py) and in the services for pages. Bodies other
# than file uploads keep Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), answered 413 the same way.
QUORUM_UPLOAD_MAX_BYTES = env_int("QUORUM_UPLOAD_MAX_BYTES", 512 * 1024 * 1024)
# API tokens are remembered this long per process (core.authentication): a user deactivated or a
# token deleted in another process still authenticates there for at most this long. 0: off.
QUORUM_TOKEN_CACHE_SECONDS = env_int("QUORUM_TOKEN_CACHE_SECONDS", 5)
# The WSGI handler answers the work loop's next and submit before Django's middleware chain
# (config/fastlane.py), with the same answers; off (0), every request takes Django's whole path.
QUORUM_FAST_LANE = env_bool("QUORUM_FAST_LANE", True)
# Pages show figures that cost a scan (gold accuracy, the annotation count behind the quality gate)
# from the cache: recomputed after a new annotation, but at most this often (seconds) on a busy
# project. The delivery gate and the API always compute them afresh.
QUORUM_PAGE_FIGURES_SECONDS = env_int("QUORUM_PAGE_FIGURES_SECONDS", 60)
# Adjudication (quality.selectors.queues): an item still short of its overlap joins the queue only
# once it is stalled: no live lease on it and no annotation for this many hours.
QUORUM_ADJUDICATION_STALL_HOURS = env_int("QUORUM_ADJUDICATION_STALL_HOURS", 48)
# Dashboard rollups (workbench.rollups): annotations younger than this wait for the next run, so one
# committed a moment after a higher id is never skipped by the id watermark.
QUORUM_ROLLUP_SETTLE_SECONDS = env_int("QUORUM_ROLLUP_SETTLE_SECONDS", 10)
# Embedded mode runs no beat: the dashboard pages bring the rollups up to date before reading them
# (a run with nothing new is a few milliseconds). With a broker, beat does it (projects.rollup_refresh).
QUORUM_ROLLUP_ON_READ = env_bool("QUORUM_ROLLUP_ON_READ", not REDIS_URL)
# Forecasts (workbench.forecast): the trailing window of daily throughput they read.
QUORUM_FORECAST_WINDOW_DAYS = env_int("QUORUM_FORECAST_WINDOW_DAYS", 14)
# Delivery webhooks (delivery.tasks.webhook_send): attempts in all, the first retry's delay (doubling
# after each failure), and each POST's timeout.
QUORUM_WEBHOOK_MAX_ATTEMPTS = env_int("QUORUM_WEBHOOK_MAX_ATTEMPTS", 6)
QUORUM_WEBHOOK_BACKOFF_SECONDS = env_int("QUORUM_WEBHOOK_BACKOFF_SECONDS", 30)
QUORUM_WEBHOOK_TIMEOUT_SECONDS = env_int("QUORUM_WEBHOOK_TIMEOUT_SECONDS", 10)
# Webhook URLs are typed in by requesting teams, and the worker POSTs to them from inside the
# network: hosts that are (or resolve to) loopback, private, link-local or otherwise non-public
# addresses are refused, at registration and again before each send, unless this is on (a local
# receiver in development). Redirects are never followed.
QUORUM_WEBHOOK_ALLOW_PRIVATE = env_bool("QUORUM_WEBHOOK_ALLOW_PRIVATE", False)

CELERY_BEAT_SCHEDULE = {
    "annotation.assignment_expire_sweep": {"task": "annotation.assignment_expire_sweep", "schedule": 60},
    # The work queue's tables on PostgreSQL (annotation/queues.py): without it, each pick slows as
    # filled items' dead index entries pile up (bench/README.md, throughput).
    "annotation.work_queue_vacuum": {
        "task": "annotation.work_queue_vacuum",
        "schedule": env_int("QUORUM_QUEUE_VACUUM_SECONDS", 10),
        "options": {"expires": env_int("QUORUM_QUEUE_VACUUM_SECONDS", 10)},
    },
    "projects.project_progress_refresh_all": {
        "task": "projects.project_progress_refresh_all",
        "schedule": env_int("QUORUM_PROGRESS_REFRESH_SECONDS", 300),
    },
    "projects.gold_pause_sweep_all": {
        "task": "projects.gold_pause_sweep_all",
        "schedule": env_int("QUORUM_GOLD_PAUSE_SECONDS", 120),
    },
    "quality.agreement_refresh": {
        "task": "quality.agreement_refresh",
        "schedule": env_int("QUORUM_AGREEMENT_REFRESH_SECONDS", 900),
    },
    "projects.rollup_refresh": {
        "task": "projects.rollup_refresh",
        "schedule": env_int("QUORUM_ROLLUP_REFRESH_SECONDS", 60),
    },
    "projects.risk_sweep": {
        "task": "projects.risk_sweep",
        "schedule": env_int("QUORUM_RISK_SWEEP_SECONDS", 900),
    },
    # Jobs whose heartbeat stopped (their worker died) or that were never queued are failed with the
    # reason (core/jobs.py); the delivery sweep also removes dead builds' temporary folders.
    "annotation.import_job_sweep": {"task": "annotation.import_job_sweep", "schedule": QUORUM_JOB_SWEEP_SECONDS},
    "quality.quality_job_sweep": {"task": "quality.quality_job_sweep", "schedule": QUORUM_JOB_SWEEP_SECONDS},
    "delivery.job_sweep": {"task": "delivery.job_sweep", "schedule": QUORUM_JOB_SWEEP_SECONDS},
}

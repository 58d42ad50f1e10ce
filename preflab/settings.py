"""Preflab settings, read from the environment (12-factor) with embedded defaults.

With no environment at all Preflab runs on one machine: a SQLite file and a filesystem
Celery broker under ``var/``. Production sets ``DATABASE_URL`` (PostgreSQL) and
``CELERY_BROKER_URL`` (Redis), ``SECRET_KEY`` and ``DEBUG=0``.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


VAR_DIR = Path(os.environ.get("PREFLAB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEFAULT_SECRET_KEY = "preflab-insecure-development-key-do-not-use-in-production"
DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is the built-in development key; set SECRET_KEY when DEBUG is off."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "labeling",
    "training",
    "pipelines",
    "evaluations",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # a body over DATA_UPLOAD_MAX_MEMORY_SIZE: a 413 naming it, API or page (docs/limits.md)
    "preflab.body_limit.BodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # the database or the job queue down: a 503 with Retry-After, not a 500
    "preflab.middleware.ServiceUnavailableMiddleware",
    # last, as axes asks: it turns a locked-out login into the lockout page (429)
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "preflab.urls"
WSGI_APPLICATION = "preflab.wsgi.application"

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

# --- database -----------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "preflab.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        # a persistent connection is checked before a request reuses it: after PostgreSQL
        # restarts, requests reconnect instead of failing on the dead connection
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Many labelers on the embedded default: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock when a transaction starts (no lock upgrade that
    # fails with "database is locked"), and the timeout makes writers queue instead of fail.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # Django opens psycopg connections with preparation off (for proxies that pool by
    # transaction; set the variable to 0 behind one). On, psycopg prepares the statements that
    # ask for it (the labeling hot path, preflab/sql_rows.py) and no others: the threshold is
    # never reached, and the ORM's client-side-bound queries are never prepared.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = sys.maxsize
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []

# --- security (docs/security.md) -----------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# The largest request body, a JSON document or a form (docs/limits.md).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("PREFLAB_MAX_BODY_BYTES", str(10 * 1024 * 1024)))
# One switch for a site served over HTTPS (by a TLS-terminating proxy in front of gunicorn):
# HSTS, the redirect to https, cookies sent only over https, and the proxy's header trusted to
# say a request came in over https. `manage.py check --deploy` then reports nothing.
PREFLAB_HTTPS = env_bool("PREFLAB_HTTPS", default=False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=PREFLAB_HTTPS or not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=PREFLAB_HTTPS or not DEBUG)
if PREFLAB_HTTPS:
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # the container's own health probe speaks plain http to gunicorn, past the proxy
    SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/$"]

# Proxies in front of the web that append to X-Forwarded-For (0: REMOTE_ADDR is the client).
# The login lockout and the API throttles key on the client address it gives.
PREFLAB_NUM_PROXIES = int(os.environ.get("PREFLAB_NUM_PROXIES", "0"))

# Login brute force (django-axes): this many failed logins for one username from one address
# lock that pair out for the cool-off; a success before then starts the count again.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("PREFLAB_LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("PREFLAB_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_CLIENT_IP_CALLABLE = "api.throttles.client_ip"
# a failure while locked out does not lengthen the lockout: the page's "N minutes" holds
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False

# The API's rates (api/throttles.py): per client address for anonymous requests and requests
# with a token that is not valid; per user for the rest, far above what labeling needs.
# "<count>/<s|min|hour|day>"; empty turns a throttle off.
PREFLAB_ANON_THROTTLE = os.environ.get("PREFLAB_ANON_THROTTLE", "60/min")
PREFLAB_USER_THROTTLE = os.environ.get("PREFLAB_USER_THROTTLE", "100000/hour")

# The throttles' counters must be shared by the web's processes (gunicorn workers): Redis
# when PREFLAB_CACHE_URL names one (docker-compose.yml: its own db, apart from the broker's),
# otherwise files under var/ (one machine, no extra service; `cache.clear()` stays harmless).
PREFLAB_CACHE_URL = os.environ.get("PREFLAB_CACHE_URL", "")
if PREFLAB_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": PREFLAB_CACHE_URL,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
# this process's memory: the per-user API throttle (api/throttles.py says why)
CACHES["local"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}

# --- REST API -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "api.authentication.AnonymousRate",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    # anonymous requests and bad tokens are counted by the authenticators (AnonymousRate)
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.AnonThrottle", "api.throttles.UserThrottle"],
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Preflab API",
    "DESCRIPTION": "Human-preference labeling and RLHF training.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package: the docs work with no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # the schemes clients authenticate with (AnonymousRate only counts anonymous requests)
    "AUTHENTICATION_WHITELIST": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Bodies are documented as JSON, the API's format; DRF also parses form posts (the
    # browsable API), which the schema need not promise.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    # the error responses every operation can give (api/schema.py), after the enum hook
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.document_errors",
    ],
}

# --- Celery -------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
# "localhost": the filesystem transport ignores the host, but kombu warns on every connection
# ("No hostname was supplied") when the URL has none, and the CLI's job commands connect
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged message (a job whose worker died) to another worker after
    # this many seconds. Jobs do not rely on it: a worker that restarts, or the beat sweep of
    # stale heartbeats, requeues a lost job long before; and a job that is running or finished
    # is never run again by a late redelivery (it is claimed by a conditional UPDATE).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "training.run_training_job": {"queue": "training"},
    "training.run_generation_job": {"queue": "generation"},
    # loads a reward model: the training workers' work, not the web's default queue
    "evaluations.score_campaign": {"queue": "training"},
}
CELERY_TASK_ACKS_LATE = True
# A message whose pool process died (SIGKILL, out of memory) goes back to the queue.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Synced into django-celery-beat's tables at start; admins add more schedules in the admin.
CELERY_BEAT_SCHEDULE = {
    "expire-leases": {"task": "labeling.expire_leases", "schedule": 60.0},
    "requeue-stale-jobs": {"task": "training.requeue_stale_jobs", "schedule": 30.0},
    # the outbox: jobs committed while Redis was down are sent once it is back
    "send-unsent-jobs": {"task": "training.send_unsent_jobs", "schedule": 30.0},
    # evaluation campaigns whose generation job failed (a success moves them at once)
    "advance-campaigns": {"task": "evaluations.advance_campaigns", "schedule": 60.0},
    # every running pipeline (started from the API, by a retraining schedule, or by a
    # run_pipeline that stopped): none needs a command polling it; each project's own
    # schedules are PeriodicTasks written by pipelines.retraining
    "advance-pipelines": {"task": "pipelines.advance_running", "schedule": 30.0},
}
CELERY_TIMEZONE = TIME_ZONE

# --- Preflab ------------------------------------------------------------------
PREFLAB_ARTIFACTS_DIR = Path(os.environ.get("PREFLAB_ARTIFACTS_DIR", VAR_DIR / "artifacts"))
PREFLAB_MODELS_DIR = Path(os.environ.get("PREFLAB_MODELS_DIR", VAR_DIR / "models"))
PREFLAB_BASE_MODEL = os.environ.get("PREFLAB_BASE_MODEL", "smollm2-135m-instruct")
# Training jobs: a running job beats every HEARTBEAT_S; one silent for STALE_AFTER_S is
# requeued, up to MAX_ATTEMPTS starts in all; then it fails with the reason.
PREFLAB_JOB_HEARTBEAT_S = float(os.environ.get("PREFLAB_JOB_HEARTBEAT_S", "5"))
PREFLAB_JOB_STALE_AFTER_S = float(os.environ.get("PREFLAB_JOB_STALE_AFTER_S", "120"))
PREFLAB_JOB_MAX_ATTEMPTS = int(os.environ.get("PREFLAB_JOB_MAX_ATTEMPTS", "3"))
PREFLAB_LOG_TAIL_CHARS = int(os.environ.get("PREFLAB_LOG_TAIL_CHARS", "16000"))
# Processes a job may ask for (`processes` in its config); 0 = this host's GPUs, or its cores.
PREFLAB_MAX_PROCESSES = int(os.environ.get("PREFLAB_MAX_PROCESSES", "0"))
# A solo-pool job worker stops after each job, for a supervisor to start a fresh process
# (runplatform sets it for its job worker; prefork workers use --max-tasks-per-child 1).
PREFLAB_WORKER_EXIT_AFTER_JOB = env_bool("PREFLAB_WORKER_EXIT_AFTER_JOB", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # axes logs its start and every reset of a count at INFO; lockouts are warnings
    "loggers": {"axes": {"level": os.environ.get("AXES_LOG_LEVEL", "WARNING")}},
}

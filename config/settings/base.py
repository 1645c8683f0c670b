"""Settings shared by every environment. All configuration comes from the environment."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks_db",
    "axes",
    "workplan",
    "api",
]

MIDDLEWARE = [
    "api.middleware.RequestIDMiddleware",
    "api.middleware.ApiProblemMiddleware",
    "api.middleware.DatabaseUnavailableMiddleware",
    "api.middleware.NoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "api.middleware.BodySizeLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
CSRF_FAILURE_VIEW = "api.errors.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# SQLite is only the embedded default so that `make run` works anywhere;
# production and CI use PostgreSQL through DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Writers take the lock when their transaction starts and wait for each other,
    # instead of failing with "database is locked" half way through.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
elif DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A database that does not answer must not hold a worker: the request fails fast (503).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def redis_cache(url: str, key_prefix: str = "workplan") -> dict[str, Any]:
    """The default cache on Redis through django-redis, failing open.

    Only throttle and brute-force counters live there. When Redis is down, reads come
    back empty and writes are dropped (django-redis's IGNORE_EXCEPTIONS), so requests go
    on unthrottled instead of failing; the short timeouts keep a Redis that does not
    answer from stalling them. The ignored errors are logged through `api.cache`, at
    most once a minute per process (see LOGGING).
    """
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": key_prefix,
        "OPTIONS": {
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
            "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=0.5),
        },
    }


if env("REDIS_URL", default=""):
    CACHES = {"default": redis_cache(env("REDIS_URL"))}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "api.cache"

AUTHENTICATION_BACKENDS = [
    # Refuses logins (admin, API session) for an account or address locked out by django-axes.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Admin logins: after AXES_FAILURE_LIMIT failures for one username, or from one address,
# further attempts are refused with 429 for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# The client address as the API's throttles see it (honours API_NUM_PROXIES).
AXES_CLIENT_IP_CALLABLE = "api.throttling.client_address"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "api.logs.RequestIDFilter"},
        "once_a_minute": {"()": "api.logs.OncePerInterval", "interval": 60},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "text",
            "filters": ["request_id"],
        }
    },
    "loggers": {
        # A cache or database that is down fails every request: a report a minute is enough.
        "api.cache": {"filters": ["once_a_minute"]},
        "api.database": {"filters": ["once_a_minute"]},
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.SafeJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.PlanPermission"],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.AnonymousRateThrottle",
        "api.throttling.TokenRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="120/minute"),
        "token": env("API_THROTTLE_TOKEN", default="1200/minute"),
        # Exports (CSV, IATI) per token, user or address, apart from the reads above.
        "export": env("API_THROTTLE_EXPORT", default="60/hour"),
        # Failed bearer tokens per client address; past it, 429 until the window ends.
        "bad_token": env("API_THROTTLE_BAD_TOKEN", default="20/minute"),
    },
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PagePagination",
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.problem_exception_handler",
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.NamespaceVersioning",
    "ALLOWED_VERSIONS": ["v1"],
    "DEFAULT_VERSION": "v1",
    "URL_FORMAT_OVERRIDE": "format",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Mexico–US High-Level Economic Dialogue work plan API",
    # The overview (info.description), tags and servers: api/overview.py.
    "DESCRIPTION": "",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "OAS_VERSION": "3.1.0",
    "WEBHOOKS": ["api.v1.webhooks.plan_changed"],
    # Partner systems authenticate with bearer tokens; session cookies are for the admin.
    "AUTHENTICATION_WHITELIST": ["api.authentication.BearerTokenAuthentication"],
    # Docs pages load nothing from outside the app (api/templates/api/, api/docs.py).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "/favicon.ico",
    "SWAGGER_UI_SETTINGS": {
        "deepLinking": True,
        "validatorUrl": None,
        "persistAuthorization": False,
        "displayOperationId": False,
    },
    "REDOC_DIST": "SIDECAR",
    "REDOC_UI_SETTINGS": {
        "hideLoading": True,
        "expandResponses": "200,201",
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif"},
                "code": {"fontFamily": "ui-monospace, 'DejaVu Sans Mono', monospace"},
            }
        },
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.make_translations_optional",
        "api.schema.declare_enforced_rules",
        "api.schema.add_links",
        "api.schema.document_webhook_headers",
        "api.schema.document_brief_representations",
        "api.overview.document_overview",
        "api.examples.merge_examples",
    ],
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "SORT_OPERATION_PARAMETERS": False,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "ENUM_NAME_OVERRIDES": {
        "CountryEnum": "workplan.choices.country_choices",
        "CurrencyEnum": "workplan.choices.currency_choices",
        "ActivityStatusEnum": "workplan.choices.ActivityStatus",
        "OrganisationRoleEnum": "workplan.choices.OrganisationRole",
        "OrganisationTypeEnum": "workplan.choices.OrganisationType",
        "AssignmentSourceEnum": "workplan.choices.AssignmentSource",
        "MeetingKindEnum": "workplan.choices.MeetingKind",
        "MeetingProjectKindEnum": "workplan.choices.MeetingProjectKind",
        "SourceKindEnum": "workplan.choices.SourceKind",
    },
    "CONTACT": {"name": "Work plan API"},
    "LICENSE": {"name": "MIT"},
}

# Background work: Django's task framework with a database-backed queue, so queued
# webhooks survive restarts; `manage.py run_worker` runs them, outlives database outages
# and runs the housekeeping on its own schedule.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "webhooks"],
    }
}
# How often the worker queues again the deliveries nobody is trying (expired leases).
WORKER_SWEEP_SECONDS = env.int("WORKER_SWEEP_SECONDS", default=30)
# How often it purges expired Idempotency-Key records and prunes old task results.
WORKER_HOUSEKEEPING_SECONDS = env.int("WORKER_HOUSEKEEPING_SECONDS", default=3600)
# Finished task results older than this are pruned (django-tasks-db's default).
WORKER_TASK_RESULTS_DAYS = env.int("WORKER_TASK_RESULTS_DAYS", default=14)
# The longest wait between two tries to reach the database when it is down.
WORKER_MAX_BACKOFF_SECONDS = env.float("WORKER_MAX_BACKOFF_SECONDS", default=30.0)

# Webhooks.
API_PUBLIC_URL = env("API_PUBLIC_URL", default="http://127.0.0.1:8000")
# Kept on the server: a new token is shown once through a message, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
# A try owns its delivery this long (the timeout, plus time to resolve the name); past it
# the try is taken for dead (its worker was killed) and the worker's sweep queues it again.
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=WEBHOOK_TIMEOUT_SECONDS + 30)
# CIDR ranges that webhook targets may resolve to although they are not public.
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = env.list("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", default=[])

# IATI exports: the organisation reported as publishing the activities.
IATI_REPORTING_ORG_REF = env("IATI_REPORTING_ORG_REF", default="HLED-MX-US")
IATI_REPORTING_ORG_TYPE = env("IATI_REPORTING_ORG_TYPE", default="10")
IATI_REPORTING_ORG_NAME = {
    "en": env(
        "IATI_REPORTING_ORG_NAME_EN",
        default="Mexico–United States High-Level Economic Dialogue",
    ),
    "es": env(
        "IATI_REPORTING_ORG_NAME_ES",
        default="Diálogo Económico de Alto Nivel México–Estados Unidos",
    ),
}

# API limits and policies.
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=100)
# How long a list's count, counted on its first page, serves its later pages (api/pagination.py).
API_COUNT_CACHE_SECONDS = env.int("API_COUNT_CACHE_SECONDS", default=60)
API_DEFAULT_PAGE_SIZE = env.int("API_DEFAULT_PAGE_SIZE", default=50)
API_ANONYMOUS_READ = env.bool("API_ANONYMOUS_READ", default=True)
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)
API_BULK_MAX_ITEMS = env.int("API_BULK_MAX_ITEMS", default=100)
# Retry-After (seconds) on the 503 answered while the database is unreachable.
API_UNAVAILABLE_RETRY_AFTER = env.int("API_UNAVAILABLE_RETRY_AFTER", default=5)
# A keyed POST recorded as running for longer than this is taken as abandoned.
API_IDEMPOTENCY_LEASE_SECONDS = env.int("API_IDEMPOTENCY_LEASE_SECONDS", default=300)
# Whether /health/ready reports the instance unready when the cache is down.
HEALTH_CACHE_REQUIRED = env.bool("HEALTH_CACHE_REQUIRED", default=False)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

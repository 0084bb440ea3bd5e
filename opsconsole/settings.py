"""Ops Console settings: one module, configured from the environment (see README, "Configuration")."""

import hashlib
import os
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.templatetags.static import static
from django.urls import reverse_lazy

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="django-insecure-development-only-never-used-with-debug-off")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    # No defaults in production: a missing value stops start-up with "Set the ... environment variable".
    SECRET_KEY = env("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
    for _name, _value in (("SECRET_KEY", SECRET_KEY), ("ALLOWED_HOSTS", ALLOWED_HOSTS)):
        if not _value:
            raise environ.ImproperlyConfigured(f"Set the {_name} environment variable")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "unfold.apps.BasicAppConfig",  # the admin site is ours (apps.core.admin_site.OpsAdminSite), unfold's kind
    "unfold.contrib.simple_history",
    "apps.core.admin_site.OpsAdminConfig",  # django.contrib.admin with the site above
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "simple_history",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",
    # Our apps before django_rq: apps.execution's `rqworker` wraps django-rq's (schema guard, Redis outages).
    "apps.core",
    "apps.auditlog",
    "apps.execution",
    "apps.proposals",
    "apps.offers",
    "apps.income",
    "apps.safety",
    "apps.metrics",
    "apps.experiments",
    "apps.demo",
    "djstripe",
    "django_rq",
]

MIDDLEWARE = [
    "apps.core.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "apps.core.middleware.RejectNulMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout answer
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out user before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "opsconsole.urls"
WSGI_APPLICATION = "opsconsole.wsgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600}}
# Jobs enqueued inside a transaction reach Redis only when it commits (the engine relies on it: a worker must
# never see a task row that is not there yet). django-rq's default today, stated so that it cannot change quietly.
RQ = {"COMMIT_MODE": "on_db_commit", "WORKER_CLASS": "apps.execution.worker.TaskWorker"}
# django-rq's own admin entry (/admin/django_rq/dashboard/) would bypass the operators-only wrapper at /admin/rq/.
RQ_SHOW_ADMIN_LINK = False
# Shared by every process, so that API throttles count across web workers.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                      "KEY_PREFIX": "opsconsole"}}  # fmt: skip

# How many reverse proxies in front of the console append to X-Forwarded-For (0: trust REMOTE_ADDR alone).
# Login lockouts and API throttles count per client address, so this must match the deployment.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=200)  # the most rows one API page may ask for (`page_size`)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.api.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browsable API and docs, with CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.api.AnonymousRateLimit", "rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.BoundedJSONParser"],
    # Per signed-in user here; anonymous requests are counted by a permission (DRF checks permissions before
    # throttles) and wrong tokens by the authentication (apps.core.api).
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.api.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("API_THROTTLE_USER", default="600/minute"),  # per token (or session user)
        "anon": env("API_THROTTLE_ANON", default="30/minute"),  # per client address, without a signed-in user
        "failed_token": env("API_THROTTLE_FAILED_TOKEN", default="20/hour"),  # wrong tokens per client address
        "experiments_assign": env("API_THROTTLE_EXPERIMENTS_ASSIGN", default="6000/minute"),  # storefront traffic
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ops Console API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "apps.execution.models.TaskStatus",
        "ProposalStatusEnum": "apps.proposals.models.ProposalStatus",
    },
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username, or from one client
# address, further logins are refused for the cool-off time, the right password included.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "apps.core.security.client_ip"
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"
AXES_RESET_ON_SUCCESS = False  # a success would clear every failure from its address, other usernames' too
# Lockouts are listed (and can be deleted, which unlocks) in the admin for superusers; `manage.py axes_reset`.

# Content-Security-Policy (django-csp). Scripts need 'unsafe-inline'/'unsafe-eval' because unfold uses Alpine.js's
# standard build and inline handlers; everything else is this site only: no remote images, fonts, frames or
# connections, so text from reports cannot make a reviewer's browser call out.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_INLINE, UNSAFE_EVAL],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

API_JSON_MAX_DEPTH = 32  # nesting of any JSON the API accepts (payloads included)

# AI model endpoints (apps/execution). A model's API key is read from an environment variable; only variables
# named *_API_KEY *and* listed here may be used, so a model can never be pointed at SECRET_KEY, DATABASE_URL or
# the Stripe secrets. An empty host list allows any endpoint host; otherwise only the hosts listed.
AI_MODEL_KEY_ENV_ALLOWED = [name.strip() for name in env.list("AI_MODEL_KEY_ENV_ALLOWED", default=[]) if name.strip()]
AI_MODEL_ENDPOINT_HOSTS_ALLOWED = [
    host.strip() for host in env.list("AI_MODEL_ENDPOINT_HOSTS_ALLOWED", default=[]) if host.strip()
]

# Execution engine (apps/execution); seconds unless named otherwise.
EXECUTION_RETRY_BACKOFF_SECONDS = env.float("EXECUTION_RETRY_BACKOFF_SECONDS", default=10)  # doubles per attempt
EXECUTION_RETRY_BACKOFF_MAX_SECONDS = env.float("EXECUTION_RETRY_BACKOFF_MAX_SECONDS", default=600)
EXECUTION_GRACE_SECONDS = env.int("EXECUTION_GRACE_SECONDS", default=60)  # past a task's timeout: worker lost
EXECUTION_SWEEP_INTERVAL_SECONDS = env.int("EXECUTION_SWEEP_INTERVAL_SECONDS", default=30)
CRON_CONFIG = "opsconsole.cron"  # every periodic job; `manage.py cron` runs them
EXECUTION_SWEEP_BATCH = env.int("EXECUTION_SWEEP_BATCH", default=5000)
EXECUTION_ORPHAN_AGE_SECONDS = env.int("EXECUTION_ORPHAN_AGE_SECONDS", default=30)
EXECUTION_RESULT_TTL_SECONDS = env.int("EXECUTION_RESULT_TTL_SECONDS", default=3600)
EXECUTION_BULK_INLINE_MAX = env.int("EXECUTION_BULK_INLINE_MAX", default=200)  # larger sets run as a job
EXECUTION_PAYLOAD_MAX_BYTES = env.int("EXECUTION_PAYLOAD_MAX_BYTES", default=1_048_576)  # a task's payload as JSON
EXECUTION_BULK_CHUNK = env.int("EXECUTION_BULK_CHUNK", default=250)  # tasks per step (and progress update)

# Stripe (apps/offers, dj-stripe). Test mode unless STRIPE_LIVE_MODE; keys only from the environment.
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")  # an emulator in tests and staging
if "STRIPE_API_BASE" in os.environ:
    STRIPE_API_HOST = STRIPE_API_BASE  # what dj-stripe reads; it warns when set in production, as it should
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
OFFERS_STRIPE_MAX_ATTEMPTS = env.int("OFFERS_STRIPE_MAX_ATTEMPTS", default=4)  # rate limits and network errors
OFFERS_STRIPE_RETRY_SECONDS = env.float("OFFERS_STRIPE_RETRY_SECONDS", default=2)  # doubles per attempt
OFFERS_PUBLISH_TIMEOUT_SECONDS = env.int("OFFERS_PUBLISH_TIMEOUT_SECONDS", default=120)  # one publish job's run
OFFERS_SWEEP_INTERVAL_SECONDS = env.int("OFFERS_SWEEP_INTERVAL_SECONDS", default=30)  # restarts lost publishes
# Names this console in Stripe idempotency keys and product metadata: set a distinct value per environment when
# several share one Stripe account. The default is derived from SECRET_KEY, which differs per environment.
INSTALLATION_ID = env("INSTALLATION_ID", default=hashlib.sha256(f"installation:{SECRET_KEY}".encode()).hexdigest()[:12])

# Income (apps/income): Stripe webhooks at /stripe/webhook/, verified with the endpoint's signing secret.
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")  # whsec_..., from Stripe's endpoint page
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)  # older: replay, refused
INCOME_CURRENCY = env("INCOME_CURRENCY", default="usd")  # ROI's currency: AI costs are priced in it
# A verified delivery still unrecorded this long after it arrived (RQ's own retries take under 3 minutes) is
# stranded: listed in the admin and retried by the scheduler, first after INCOME_STRANDED_RETRY_SECONDS, doubling.
INCOME_WEBHOOK_STRANDED_AFTER_SECONDS = env.int("INCOME_WEBHOOK_STRANDED_AFTER_SECONDS", default=600)
INCOME_STRANDED_RETRY_SECONDS = env.int("INCOME_STRANDED_RETRY_SECONDS", default=300)
INCOME_STRANDED_SWEEP_SECONDS = env.int("INCOME_STRANDED_SWEEP_SECONDS", default=120)
# Raw bodies of recorded deliveries are removed after this many days (the rows stay, for audit).
INCOME_WEBHOOK_BODY_RETENTION_DAYS = env.int("INCOME_WEBHOOK_BODY_RETENTION_DAYS", default=30)
# When the daily reconciliation of the previous UTC day with Stripe's balance transactions runs (cron, UTC).
INCOME_RECONCILE_CRON = env("INCOME_RECONCILE_CRON", default="30 3 * * *")

SIMPLE_HISTORY_REVERT_DISABLED = True  # no Revert button; apps.core.admin_site.HistoryAdmin refuses the POST

# Proposal reports (apps/proposals): reports at or above this severity are highlighted in the admin.
PROPOSALS_HIGHLIGHT_SEVERITY = env.int("PROPOSALS_HIGHLIGHT_SEVERITY", default=8)
PROPOSALS_REPORT_MAX_BYTES = env.int("PROPOSALS_REPORT_MAX_BYTES", default=1_048_576)  # API, command and upload

# Safety (apps/safety): risk levels from the score (0-100), and the score at which a new task waits for a reviewer.
RISK_LEVEL_MEDIUM = env.int("RISK_LEVEL_MEDIUM", default=25)
RISK_LEVEL_HIGH = env.int("RISK_LEVEL_HIGH", default=50)
RISK_LEVEL_CRITICAL = env.int("RISK_LEVEL_CRITICAL", default=75)
RISK_REVIEW_THRESHOLD = env.int("RISK_REVIEW_THRESHOLD", default=50)
REVIEW_QUEUE_OLD_AFTER_HOURS = env.int("REVIEW_QUEUE_OLD_AFTER_HOURS", default=24)  # highlighted when waiting longer
SAFETY_RESCORE_CHUNK = env.int("SAFETY_RESCORE_CHUNK", default=500)  # tasks per step of a re-scoring

# Metrics, blind spots and alerts (apps.metrics; README "Metrics, blind spots and alerts").
METRICS_DETECT_INTERVAL_SECONDS = env.int("METRICS_DETECT_INTERVAL_SECONDS", default=300)  # detectors, drift
METRICS_STALLED_AFTER_HOURS = env.int("METRICS_STALLED_AFTER_HOURS", default=2)  # queued work, no run this long
METRICS_NEW_FAILURE_HOURS = env.int("METRICS_NEW_FAILURE_HOURS", default=24)  # a failure signature counts as new
METRICS_LOOKBACK_DAYS = env.int("METRICS_LOOKBACK_DAYS", default=7)  # runs without price, unattributed income, Stripe
DRIFT_BASELINE_DAYS = env.int("DRIFT_BASELINE_DAYS", default=7)  # same hour of day on each of these days
DRIFT_QUIET_HOURS = env.int("DRIFT_QUIET_HOURS", default=6)  # a closed alert coming back sooner reopens, unannounced
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="ops-console@localhost")
ALERT_WEBHOOK_URLS = env.list("ALERT_WEBHOOK_URLS", default=[])
ALERT_WEBHOOK_SECRET = env("ALERT_WEBHOOK_SECRET", default="")  # HMAC-SHA256 key for X-OpsConsole-Signature
METRICS_TOKEN = env("METRICS_TOKEN", default="")  # /metrics: "Authorization: Bearer <token>" ...
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])  # ... or a client address listed here

# Experiments (apps.experiments; README "Experiments and rollouts").
EXPERIMENTS_ROLLBACK_WINDOW_HOURS = env.int("EXPERIMENTS_ROLLBACK_WINDOW_HOURS", default=72)  # old price/model warm
EXPERIMENTS_GUARDRAIL_INTERVAL_SECONDS = env.int("EXPERIMENTS_GUARDRAIL_INTERVAL_SECONDS", default=60)
EXPERIMENTS_MIN_RUNS_PER_ARM = env.int("EXPERIMENTS_MIN_RUNS_PER_ARM", default=20)  # before a guardrail look
# Where Stripe Checkout sends a price experiment's customer afterwards: your storefront's pages (placeholders only
# in development; unset in production, the assign API refuses to make checkouts and says what to set).
EXPERIMENTS_CHECKOUT_SUCCESS_URL = env("EXPERIMENTS_CHECKOUT_SUCCESS_URL",
                                       default="https://example.com/thanks" if DEBUG else "")
EXPERIMENTS_CHECKOUT_CANCEL_URL = env("EXPERIMENTS_CHECKOUT_CANCEL_URL",
                                      default="https://example.com/offer" if DEBUG else "")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["opsconsole.formats"]  # dates and times to the second everywhere
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Development serves static files straight from the apps; production serves `collectstatic` output.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = reverse_lazy("admin:login")
LOGIN_REDIRECT_URL = reverse_lazy("admin:index")

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", True) else None
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True


def _not_a_static_file_served(record) -> bool:
    """runserver logs every request; the admin's CSS, JS and fonts are dozens per page and say nothing."""
    request_line = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
    return not (request_line.startswith(f"GET /{STATIC_URL.lstrip('/')}") and getattr(record, "status_code", 500) < 400)


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_static_files": {"()": "django.utils.log.CallbackFilter", "callback": _not_a_static_file_served}},
    "formatters": {
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"}
    },  # fmt: skip
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["no_static_files"],
        },  # fmt: skip
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},  # its start-up banner in every command; lockouts are warnings
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}

# The admin's navigation (sidebar and index), in the order people work; models not named are left out of it
# (still reachable by URL for those allowed); apps not named come after, Administration last.
ADMIN_NAVIGATION = {
    "execution": ["ExecutionTask", "ExecutionEvent", "BulkOperation", "ExecutionControl", "AIModel", "TaskType",
                  "ModelRollout"],
    "safety": ["ReviewQueueTask", "Concern", "SafetyAudit", "AuditRun", "RiskRule", "RiskRescore"],
    "metrics": ["Finding", "Alert", "AlertRule", "LeadTime"],
    "auditlog": ["AuditLog"],
    "proposals": ["Proposal"],
    "offers": ["OfferTemplate"],
    "experiments": ["PriceExperiment"],
    "income": ["IncomeEvent", "ReconciliationRun", "StrandedWebhook"],
    "djstripe": [
        "Product",
        "Price",
        "Customer",
        "PaymentIntent",
        "Charge",
        "Refund",
        "Dispute",
        "Invoice",
        "Subscription",
        "BalanceTransaction",
        "Event",
        "WebhookEventTrigger",
    ],  # fmt: skip
    "axes": None,
    "authtoken": None,
    "auth": None,
}
# A count next to a model in the navigation: "app_label.ModelName" -> a function of the request ("" = no badge).
ADMIN_BADGES = {"safety.ReviewQueueTask": "apps.safety.selectors.review_queue_badge"}
ADMIN_APP_NAMES = {"djstripe": "Stripe", "auth": "Administration"}

UNFOLD = {
    "SITE_TITLE": "Ops Console",
    "SITE_HEADER": "Ops Console",
    "SITE_SYMBOL": "monitoring",
    "DASHBOARD_CALLBACK": "apps.metrics.dashboard.dashboard_callback",
    "ENVIRONMENT": "apps.core.admin_site.environment_label",
    # Without an icon of its own every page's first load asks for /favicon.ico: a 404 in the browser console.
    "SITE_FAVICONS": [
        {
            "rel": "icon",
            "sizes": "any",
            "type": "image/svg+xml",
            "href": lambda request: static("opsconsole/favicon.svg"),
        }
    ],  # fmt: skip
}

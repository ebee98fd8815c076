"""Django settings, read from LOCKSTEP_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("LOCKSTEP_DATA_DIR", Path.cwd() / "var"))


def _flag_in(env: Mapping[str, str], name: str, default: bool) -> bool:
    return env.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _flag(name: str, default: bool) -> bool:
    return _flag_in(os.environ, name, default)


DEBUG = _flag("LOCKSTEP_DEBUG", False)
SECRET_KEY = os.environ.get(
    "LOCKSTEP_SECRET_KEY", "django-insecure-dev-key-set-LOCKSTEP_SECRET_KEY-in-production"
)
ALLOWED_HOSTS = os.environ.get("LOCKSTEP_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(
    ","
)
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("LOCKSTEP_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

# Sessions: cookie unreadable by scripts, not sent on cross-site requests, a working day
# long; Django gives the session a new key at every sign-in (no session fixation).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("LOCKSTEP_SESSION_HOURS", "12")) * 3600
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# LOCKSTEP_HTTPS=1 behind a proxy that terminates TLS and sets X-Forwarded-Proto (see
# docs/operations.md): cookies only over HTTPS, plain HTTP redirected, HSTS for a year.
# `make run` serves plain HTTP on loopback, so this is off by default.
if _flag("LOCKSTEP_HTTPS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("LOCKSTEP_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("LOCKSTEP_HSTS_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _flag("LOCKSTEP_HSTS_PRELOAD", True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "lockstep.org",
    "lockstep.goals",
    "lockstep.activity",
    "lockstep.alignment",
    "lockstep.dashboard",
    "lockstep.trust",
    "lockstep.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "lockstep.web.middleware.RefuseNulCharacters",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lockstep.urls"
ASGI_APPLICATION = "lockstep.asgi.application"

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
                "lockstep.goals.context.private_krs",
            ]
        },
    }
]

_default_sqlite = f"sqlite:///{DATA_DIR / 'lockstep.sqlite3'}"


def database_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The default database from LOCKSTEP_DATABASE_URL and the LOCKSTEP_DB_* variables."""
    db: dict[str, Any] = dict(
        dj_database_url.parse(env.get("LOCKSTEP_DATABASE_URL", _default_sqlite))
    )
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so
        # concurrent writers queue instead of failing with "database is locked" mid-transaction.
        db["CONN_MAX_AGE"] = 0
        db["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    elif db["ENGINE"] == "django.db.backends.postgresql" and _flag_in(
        env, "LOCKSTEP_DB_POOL", True
    ):
        # Under uvicorn every sync view runs in a thread of its own, so a persistent
        # connection (CONN_MAX_AGE > 0) is never reused and PostgreSQL's connections pile
        # up until "too many clients". A per-process psycopg pool hands connections from
        # thread to thread instead; Django returns them at the end of each request, which
        # needs CONN_MAX_AGE 0. Past max_size a request waits up to `timeout` seconds.
        db["CONN_MAX_AGE"] = 0
        db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": int(env.get("LOCKSTEP_DB_POOL_MIN", "2")),
            "max_size": int(env.get("LOCKSTEP_DB_POOL_MAX", "10")),
            "timeout": float(env.get("LOCKSTEP_DB_POOL_TIMEOUT", "20")),
        }
    else:
        db["CONN_MAX_AGE"] = int(env.get("LOCKSTEP_DB_CONN_MAX_AGE", "0"))
    return db


DATABASES = {"default": database_from_env(os.environ)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not str(
    DATABASES["default"]["NAME"]
).startswith(":memory:"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2id first: new passwords and every password at its next sign-in get it; hashes of
# the other hashers below still verify (and are upgraded), so no account is locked out.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in is rate limited by django-axes: after LOCKSTEP_SIGNIN_ATTEMPTS failures for one
# username from one address, that pair is locked out for LOCKSTEP_SIGNIN_LOCK_MINUTES
# (429, and each further try restarts the wait). Locking the pair, not the username alone,
# keeps a stranger from locking a colleague out, and not the address alone, keeps one
# mistyping person from locking out a whole office behind one NAT address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOCKSTEP_SIGNIN_ATTEMPTS", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOCKSTEP_SIGNIN_LOCK_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
AXES_VERBOSE = False
# The client's address: the socket's, unless a trusted proxy in front (LOCKSTEP_HTTPS) sets
# X-Forwarded-For; never a header a client could set itself.
AXES_IPWARE_META_PRECEDENCE_ORDER: tuple[str, ...]
if _flag("LOCKSTEP_HTTPS", False):
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = int(os.environ.get("LOCKSTEP_PROXY_COUNT", "1"))
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns at start-up when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# E-mail (password reset): SMTP when LOCKSTEP_EMAIL_HOST is set, else printed to the
# server's console, so `make run` works with no mail server.
if os.environ.get("LOCKSTEP_EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["LOCKSTEP_EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("LOCKSTEP_EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("LOCKSTEP_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("LOCKSTEP_EMAIL_PASSWORD", "")
    EMAIL_USE_TLS = _flag("LOCKSTEP_EMAIL_TLS", True)
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("LOCKSTEP_EMAIL_FROM", "Lockstep <lockstep@localhost>")
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600

# The largest request body Django reads (forms and API JSON); bigger ones are refused
# before they are parsed (the API answers 413 in its error envelope).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("LOCKSTEP_MAX_BODY_KB", "1024")) * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 500

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOCKSTEP_LOG_LEVEL", "WARNING")},
}

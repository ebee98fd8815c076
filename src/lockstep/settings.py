"""Django settings, read from LOCKSTEP_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
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
    "LOCKSTEP_SECRET_KEY", "insecure-dev-key-set-LOCKSTEP_SECRET_KEY-in-production"
)
ALLOWED_HOSTS = os.environ.get("LOCKSTEP_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(
    ","
)
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("LOCKSTEP_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "lockstep.org",
    "lockstep.goals",
    "lockstep.activity",
    "lockstep.alignment",
    "lockstep.dashboard",
    "lockstep.web",
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
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

NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 500

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOCKSTEP_LOG_LEVEL", "WARNING")},
}

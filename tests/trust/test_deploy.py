"""Production settings: Argon2 passwords, secure cookies, and `manage.py check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.contrib.auth.hashers import identify_hasher, make_password

PRODUCTION = {
    "LOCKSTEP_HTTPS": "1",
    "LOCKSTEP_SECRET_KEY": "k7#Qz!vR2m@pX9w$Lc4^Tn8&Yb1*Hd6(Gf3)Js5-Ua0+Ei7=Oo2",
    "LOCKSTEP_ALLOWED_HOSTS": "lockstep.example.com",
    "LOCKSTEP_DEBUG": "0",
}


def _check_deploy(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process (Playwright runs an
    # event loop); a deployment never has it, and check --deploy rightly refuses it.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOCKSTEP_HTTPS", "LOCKSTEP_SEC", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    }
    env.update(DJANGO_SETTINGS_MODULE="lockstep.settings", **extra)
    return subprocess.run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy():
    done = _check_deploy(PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_the_development_defaults_do_not_pass_check_deploy():
    # The check is real: the default key and plain-HTTP cookies are what it reports.
    done = _check_deploy({"LOCKSTEP_DEBUG": "0"})
    assert done.returncode != 0
    report = done.stdout + done.stderr
    for warning in ("security.W009", "security.W012", "security.W016", "security.W004"):
        assert warning in report


def test_new_passwords_are_hashed_with_argon2():
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert identify_hasher(make_password("correct-horse-9")).algorithm == "argon2"


def test_session_cookie_is_http_only_same_site_and_a_working_day_long():
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert settings.X_FRAME_OPTIONS == "DENY"

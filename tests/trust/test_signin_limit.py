"""Rate-limited sign-in (django-axes): a username and address pair is paused after 5 failures."""

from __future__ import annotations

import datetime as dt

from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone


def attempt(password: str, *, username: str = "ada", ip: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=ip).post("/login/", {"username": username, "password": password})


def test_five_failures_lock_the_pair_out_even_with_the_right_password(person):
    for _ in range(4):
        r = attempt("wrong")
        assert r.status_code == 200 and "correct username and password" in r.content.decode()
    locked = attempt("wrong")  # the fifth failure locks
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    assert "15 minutes" in locked.content.decode()
    right = attempt("correct-horse-9")
    assert right.status_code == 429  # no session made
    assert "_auth_user_id" not in right.client.session


def test_the_lock_is_for_that_pair_only(person):
    for _ in range(5):
        attempt("wrong")
    # The same person from another address, and another username from the same address.
    assert attempt("correct-horse-9", ip="10.0.0.2").status_code == 302
    assert attempt("whatever", username="someone-else").status_code == 200


def test_the_lock_ends_after_the_cool_off(person):
    for _ in range(5):
        attempt("wrong")
    assert attempt("correct-horse-9").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    assert attempt("correct-horse-9").status_code == 302


def test_a_success_forgets_the_earlier_failures(person):
    for _ in range(4):
        attempt("wrong")
    assert attempt("correct-horse-9").status_code == 302
    for _ in range(4):
        assert attempt("wrong").status_code == 200  # four more, still not locked
    assert attempt("correct-horse-9").status_code == 302


def test_a_forwarded_for_header_from_the_client_does_not_dodge_the_lock(person):
    for i in range(5):
        Client(REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").post(
            "/login/", {"username": "ada", "password": "wrong"}
        )
    r = Client(REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.99").post(
        "/login/", {"username": "ada", "password": "correct-horse-9"}
    )
    assert r.status_code == 429

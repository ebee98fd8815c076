"""Account pages: password reset through a real SMTP server, password change, API tokens."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.test import Client

from lockstep.trust.models import ApiToken
from lockstep.trust.tokens import token_create


class Catcher:
    """An SMTP server on loopback that keeps every message it is sent."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    catcher = Catcher()
    port = _free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    yield catcher
    controller.stop()


def signs_in(username: str, password: str) -> bool:
    """Through the sign-in page, as a person does (and as the rate limit sees it)."""
    r = Client().post("/login/", {"username": username, "password": password})
    return r.status_code == 302


def _body(message) -> str:
    return message.get_payload(decode=True).decode()


def test_password_reset_by_e_mail_end_to_end(person, smtp):
    from lockstep.activity.models import ActivityEvent
    from lockstep.trust.tokens import token_create, token_find

    _, api_text = token_create(person=person, name="laptop", scope="write")
    c = Client()
    page = c.get("/login/")
    assert b"Forgot your password?" in page.content
    r = c.post("/password-reset/", {"email": "ada@example.com"})
    assert r.status_code == 302 and r["Location"] == "/password-reset/sent/"
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"] == "Reset your Lockstep password"
    link = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", _body(mail)).group(1)

    form = c.get(link, follow=True)
    assert b"Choose a new password" in form.content
    set_url = form.redirect_chain[-1][0]
    done = c.post(set_url, {"new_password1": "a-new-horse-42", "new_password2": "a-new-horse-42"})
    assert done.status_code == 302 and done["Location"] == "/password-reset/complete/"

    assert signs_in("ada", "a-new-horse-42")
    assert not signs_in("ada", "correct-horse-9")
    # The link worked once.
    again = Client().get(link, follow=True)
    assert b"This link no longer works" in again.content
    # Whoever had the old password may have minted a token: the reset revokes them all.
    assert token_find(api_text) is None
    event = ActivityEvent.objects.get(verb="account.password_reset")
    assert event.actor_id == person.pk and event.after == {"api_tokens_revoked": 1}
    assert "a-new-horse-42" not in str(event.after)


def test_a_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(person, smtp):
    r = Client().post("/password-reset/", {"email": "nobody@example.com"})
    assert r.status_code == 302 and r["Location"] == "/password-reset/sent/"
    assert smtp.messages == []


def test_a_weak_new_password_is_refused_with_the_reason(person, smtp):
    c = Client()
    c.post("/password-reset/", {"email": "ada@example.com"})
    link = re.search(r"(/password-reset/[^\s]+/)", _body(smtp.messages[0])).group(1)
    set_url = c.get(link, follow=True).redirect_chain[-1][0]
    r = c.post(set_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert r.status_code == 200
    text = r.content.decode()
    assert "too short" in text and "entirely numeric" in text
    assert 'aria-invalid="true"' in text
    assert signs_in("ada", "correct-horse-9")


def test_password_change_needs_the_old_password(client_in, person):
    bad = client_in.post(
        "/account/password/",
        {
            "old_password": "wrong",
            "new_password1": "b-new-horse-7",
            "new_password2": "b-new-horse-7",
        },
    )
    assert bad.status_code == 200 and "incorrect" in bad.content.decode()
    ok = client_in.post(
        "/account/password/",
        {
            "old_password": "correct-horse-9",
            "new_password1": "b-new-horse-7",
            "new_password2": "b-new-horse-7",
        },
    )
    assert ok.status_code == 302
    user = get_user_model().objects.get(username="ada")
    assert user.check_password("b-new-horse-7")
    assert user.password.startswith("argon2")
    from lockstep.activity.models import ActivityEvent

    assert ActivityEvent.objects.filter(verb="account.password_changed", actor=person).count() == 1


def test_the_tokens_page_shows_a_new_token_once_and_revokes(client_in, person):
    r = client_in.post("/account/tokens/", {"name": "Reporting", "scope": "read"})
    assert r.status_code == 201
    assert "no-store" in r["Cache-Control"]  # the page carries the token's text
    text = re.search(r'value="(lst_[^"]+)"', r.content.decode()).group(1)
    token = ApiToken.objects.get(person=person)
    assert token.name == "Reporting" and token.scope == "read"
    again = client_in.get("/account/tokens/").content.decode()
    assert text not in again and f"lst_{token.prefix}_" in again
    assert client_in.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "revoked" in client_in.get("/account/tokens/").content.decode()


def test_the_tokens_page_refuses_a_blank_name_and_writes_nothing(client_in, person):
    r = client_in.post("/account/tokens/", {"name": "   ", "scope": "write"})
    assert r.status_code == 422
    assert "must be 1 to 100 characters" in r.content.decode()
    assert not ApiToken.objects.exists()


def test_another_person_s_token_cannot_be_revoked_from_the_page(client_in, org):
    from lockstep.org.models import Person

    other = Person.objects.create(organisation=org, name="Bo", email="bo@example.com")
    other.user = get_user_model().objects.create_user("bo", "bo@example.com", "x-horse-10")
    other.save()
    theirs, _ = token_create(person=other, name="theirs", scope="read")
    assert client_in.post(f"/account/tokens/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None

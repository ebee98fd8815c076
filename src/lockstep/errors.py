"""Domain errors raised by services and turned into the API's one error envelope."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class LockstepError(Exception):
    """Base of all errors a user can cause; carries an HTTP status and a stable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []


class ValidationFailed(LockstepError):
    status = 422
    code = "validation_error"

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        """One wrong value: names the field and why."""
        return cls(f"{field}: {message}", fields=[FieldError(field, message)])


class Forbidden(LockstepError):
    """The caller's role does not allow this (the object exists and they may see it)."""

    status = 403
    code = "forbidden"


class NotFound(LockstepError):
    status = 404
    code = "not_found"


class Conflict(LockstepError):
    status = 409
    code = "conflict"


class Problems:
    """Every unreadable input of a form, so one answer names them all."""

    def __init__(self) -> None:
        self.fields: list[FieldError] = []

    def add(self, name: str, message: str) -> None:
        self.fields.append(FieldError(name, message))

    def raise_any(self) -> None:
        if self.fields:
            raise ValidationFailed(
                "; ".join(f"{p.field}: {p.message}" for p in self.fields), fields=self.fields
            )

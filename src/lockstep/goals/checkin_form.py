"""The check-in form as pages post it: reading its fields, and its state when shown again.

The objective page and the weekly check-in both take check-ins through this one reading,
so both forms accept the same input and name the same fields when they refuse it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from lockstep.core.progress import KRKind, Status
from lockstep.errors import Conflict, FieldError, ValidationFailed
from lockstep.goals.models import CheckIn, KeyResult
from lockstep.keys import is_id
from lockstep.org.access import resolve_in_org
from lockstep.org.models import Organisation, Person, Unit

# The check-in form's fields in screen order, with the words the error summary uses.
FORM_FIELDS = {
    "value": "Value",
    "confidence": "Confidence",
    "blocking_unit": "Blocked by unit",
    "note": "Note",
    "blockers": "Blockers",
}

# Fields a check-in can fail on that the form has no input for.
OTHER_FIELDS = {"at": "The check-in time"}


@dataclass
class CheckinForm:
    """The state of one KR's check-in form: fresh, saved, or refused with its errors."""

    errors: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    data: QueryDict | None = None
    saved: bool = False

    @classmethod
    def refused(cls, exc: ValidationFailed | Conflict, data: QueryDict) -> CheckinForm:
        errors: dict[str, str] = {}
        other: list[str] = []
        for f in exc.fields:
            # The form shows a milestone's steps where a number would be; one error place.
            name = "value" if f.field == "steps_done" else f.field
            if name in FORM_FIELDS and name not in errors:
                errors[name] = f.message
            else:
                other.append(f"{OTHER_FIELDS.get(f.field, f.field)} {f.message}")
        if not exc.fields:
            other.append(exc.message)
        return cls(errors=errors, problem="; ".join(other), data=data)

    @property
    def error_items(self) -> list[tuple[str, str, str]]:
        """(field, label, message) in screen order, for the error summary."""
        return [(f, label, self.errors[f]) for f, label in FORM_FIELDS.items() if f in self.errors]

    @property
    def first_error(self) -> str:
        """The field that takes focus when the form comes back refused."""
        return next((f for f in FORM_FIELDS if f in self.errors), "")


def checkin_input(post: QueryDict, kr: KeyResult, org: Organisation) -> dict[str, Any]:
    """Turn the posted form into checkin_record's arguments; every unreadable field is named."""
    problems: list[FieldError] = []
    data: dict[str, Any] = {"note": post.get("note", ""), "blockers": post.get("blockers", "")}
    raw_confidence = post.get("confidence", "").strip()
    if re.fullmatch(r"-?\d+", raw_confidence):
        data["confidence"] = int(raw_confidence)
    else:
        problems.append(FieldError("confidence", "choose a whole number from 1 to 10"))
    if kr.kind == KRKind.MILESTONE and "value" not in post:
        if kr.steps:
            raw_steps = post.getlist("steps_done")
            if all(is_id(s) for s in raw_steps):
                data["steps_done"] = [int(s) for s in raw_steps]
            else:
                problems.append(FieldError("steps_done", "tick the steps that are done"))
        else:
            data["value"] = 1.0 if post.get("done") else 0.0
    else:
        raw_value = post.get("value", "").strip().replace(",", "").replace(" ", "")
        try:
            value = float(raw_value)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            data["value"] = value
        else:
            problems.append(
                FieldError("value", "enter a number" if not raw_value else "must be a number")
            )
    raw_unit = post.get("blocking_unit", "").strip()
    if raw_unit and not is_id(raw_unit):
        problems.append(FieldError("blocking_unit", "choose a unit from the list"))
    if problems:
        raise ValidationFailed(
            "; ".join(f"{p.field}: {p.message}" for p in problems), fields=problems
        )
    if raw_unit:
        data["blocking_unit"] = resolve_in_org(Unit, org, int(raw_unit), "blocking_unit")
    return data


def checkin_post(post: QueryDict, me: Person, kr: KeyResult) -> CheckinForm | None:
    """Record the posted check-in as `me`; the refused form when nothing was written."""
    from lockstep.goals import services

    try:
        fields = checkin_input(post, kr, me.organisation)
        services.checkin_record(key_result=kr, actor=me, source=CheckIn.Source.WEB, **fields)
    except (ValidationFailed, Conflict) as exc:
        return CheckinForm.refused(exc, post)
    return None


def checkin_saved(me: Person, kr: KeyResult) -> str:
    """The sentence that confirms a check-in, with the KR's new progress and status."""
    from lockstep.goals import selectors
    from lockstep.web.templatetags.lockstep_ui import status_label

    # The service saved its own locked copy: read the new numbers back.
    fresh = KeyResult.objects.select_related("objective__cycle").get(pk=kr.pk)
    numbers = selectors.kr_numbers(fresh, organisation=me.organisation)
    standing = "" if numbers.status is Status.DONE else f", {status_label(numbers.status).lower()}"
    return f"Check-in saved for “{fresh.title}”: {round(numbers.progress * 100)}% done{standing}."

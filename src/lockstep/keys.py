"""Stable, human-readable keys (slugs) that plans, CSV files and URLs refer to."""

from __future__ import annotations

import re

from django.db import models
from django.utils.text import slugify

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


MAX_ID = 2**63 - 1  # the largest row id the databases hold (a signed 64-bit integer)


def is_valid_key(key: str) -> bool:
    """Whether `key` is lower-case letters, digits, '-' and '_' (at most 100 characters)."""
    return bool(KEY_PATTERN.match(key)) and len(key) <= 100


def unique_key(model: type[models.Model], organisation_id: int, text: str) -> str:
    """A key derived from `text` that no row of `model` in the organisation uses yet."""
    base = (slugify(text)[:80].strip("-") or model._meta.model_name or "item").lower()
    taken = set(
        model._default_manager.filter(
            organisation_id=organisation_id, key__startswith=base
        ).values_list("key", flat=True)
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def is_id(raw: str) -> bool:
    """Whether text typed into a form or a query is a row id: ASCII digits that fit a 64-bit
    integer, as the API's ids (`MAX_ID`). ("²".isdigit() is true and int() refuses it; 20
    digits overflow the database.)"""
    return raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_ID

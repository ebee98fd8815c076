"""The plan's choice Literals are spelled out; they must stay the models' choices, in order."""

from __future__ import annotations

from typing import get_args

import pytest

from lockstep.plans.schema import CHOICES


@pytest.mark.parametrize(("literal", "values"), CHOICES)
def test_choice_literals_match_the_models(literal, values):
    assert list(get_args(literal)) == list(values)

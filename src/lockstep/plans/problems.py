"""What is wrong with a plan or CSV file, each problem named by line and path."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lockstep.errors import FieldError, ValidationFailed

# A position inside a plan: ("objectives", 0, "key_results", 1, "target").
Path = tuple[str | int, ...]
# Turns a plan position into (line in the source file or None, path as the user reads it).
Locator = Callable[[Path], tuple[int | None, str]]


def format_path(path: Path) -> str:
    """("objectives", 0, "key_results", 1, "target") -> "objectives[0].key_results[1].target"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def plain_locator(path: Path) -> tuple[int | None, str]:
    """The locator of a plan that was not read from a file: no line, the plan path."""
    return None, format_path(path)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a plan: where (line, path) and why."""

    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"line {self.line}: {where}{self.message}" if self.line else f"{where}{self.message}"


class PlanError(ValidationFailed):
    """A plan or CSV file that cannot be applied; `problems` lists every reason found."""

    def __init__(self, problems: Iterable[Problem], *, source: str = "<plan>") -> None:
        # By line so the report reads top to bottom; problems without a line go last.
        self.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        self.source = source
        count = len(self.problems)
        summary = f"{source}: {count} problem{'s' if count != 1 else ''}"
        super().__init__(
            "\n".join([summary, *(f"  {p}" for p in self.problems)]),
            fields=[FieldError(p.path, p.message) for p in self.problems],
        )

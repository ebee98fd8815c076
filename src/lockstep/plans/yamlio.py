"""YAML in and out: a loader that remembers lines, and a canonical, stable dumper.

PyYAML's SafeLoader builds plain dicts and lists and forgets where each value came from.
Validation errors must name the line of the file, so the loader here builds `LineDict`
and `LineList`, which keep the line of every key and item; `line_of` walks a validation
error's path through them. The dumper writes block mappings with a fixed key order (the
caller's), short flow lists for lists of scalars and never folds long lines, so the same
plan always gives the same text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import yaml

from lockstep.plans.problems import Locator, Path, Problem, format_path


class LineDict(dict[Any, Any]):
    """A mapping that knows the line of each of its keys (1-based)."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[Any, int] = {}
        self.duplicates: list[tuple[Any, int]] = []


class LineList(list[Any]):
    """A sequence that knows the line of each of its items (1-based)."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: list[int] = []


class _LineLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        # A plan spells out every value. An alias (*name) is refused: a few nested ones
        # ("billion laughs") would make a small file expand past any memory when checked.
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a plan", event.start_mark
            )
        return super().compose_node(parent, index)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict(node.start_mark.line + 1)
    yield data  # yielded first, as in SafeLoader
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            ) from None
        line = key_node.start_mark.line + 1
        if key in data:
            # PyYAML silently keeps the last value; a plan author almost surely erred.
            data.duplicates.append((key, line))
        data[key] = loader.construct_object(value_node)
        data.lines[key] = line


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList(node.start_mark.line + 1)
    yield data
    for item in node.value:
        data.append(loader.construct_object(item))
        data.lines.append(item.start_mark.line + 1)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def yaml_read(text: str) -> tuple[Any, list[Problem]]:
    """Parse YAML into LineDict/LineList values; a syntax error becomes a Problem with its line."""
    try:
        # _LineLoader is a SafeLoader: no arbitrary Python objects can be built from a plan.
        return yaml.load(text, Loader=_LineLoader), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = ": ".join(str(part) for part in (exc.context, exc.problem) if part)
        return None, [Problem(line, "", f"invalid YAML: {message}")]
    except yaml.YAMLError as exc:
        return None, [Problem(None, "", f"invalid YAML: {exc}")]


def line_of(raw: Any, path: Path) -> int | None:
    """The line of the deepest part of `path` found in the raw document."""
    line = getattr(raw, "line", None)
    node = raw
    for part in path:
        in_list = isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node)
        if not in_list and not (isinstance(node, LineDict) and part in node):
            break
        line, node = node.lines[part], node[part]
    return line


def yaml_locator(raw: Any) -> Locator:
    """A Locator for a plan read from `raw`: the line from the document, the plan path."""

    def locate(path: Path) -> tuple[int | None, str]:
        return line_of(raw, path), format_path(path)

    return locate


def duplicate_fields(raw: Any, path: Path = ()) -> Iterator[tuple[Path, int]]:
    """Every key written twice in one mapping, with its path and the line of the repeat."""
    if isinstance(raw, LineDict):
        for key, line in raw.duplicates:
            yield (*path, key), line
        for key, value in raw.items():
            yield from duplicate_fields(value, (*path, key))
    elif isinstance(raw, LineList):
        for index, value in enumerate(raw):
            yield from duplicate_fields(value, (*path, index))


# ---- dumping --------------------------------------------------------------------------


class _CanonicalDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write YAML by hand.
        super().increase_indent(flow, False)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    # Lists of plain values (unit keys, step names) read best on one line.
    flow = all(_scalar(item) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.Node:
    # Small leaf mappings (a membership, a contribution link) read best on one line too.
    flow = len(data) <= 2 and all(_scalar(v) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # A multi-line description reads best as a literal block; the emitter falls back to a
    # quoted style by itself when the text cannot be written as a block exactly.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_date(dumper: yaml.SafeDumper, data: dt.date) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", data.isoformat())


_CanonicalDumper.add_representer(list, _represent_list)
_CanonicalDumper.add_representer(dict, _represent_dict)
_CanonicalDumper.add_representer(str, _represent_str)
_CanonicalDumper.add_representer(dt.date, _represent_date)


def yaml_write(data: Any) -> str:
    """YAML text for plain data: keys in the given order, no line folding, UTF-8 kept."""
    return yaml.dump(
        data,
        Dumper=_CanonicalDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
        indent=2,
    )

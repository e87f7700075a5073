"""Reading the YAML and JSON files people write, safely, keeping places to point at.

Why not ``yaml.safe_load``:

- numbers must be exact: ``0.12345678901234567891`` is a Decimal with every digit, not a
  float (money and rates are Decimals in the core);
- aliases can expand a 2 KB file into gigabytes ("billion laughs"), so the *expanded*
  size and depth are measured on the composed node graph, where an alias is one shared
  node, before a single Python object is built;
- an error must say where: every value keeps the line and column it came from, so a
  validation error names ``file:line:column`` as well as the field path;
- PyYAML lets a repeated key silently win; here it is refused;
- a file that is not UTF-8, is a folder, or is too big is refused with the reason.

Every failure is an :class:`InputInvalid` naming the file, so the CLI exits 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from cpqsim_scenarios.errors import InputInvalid, Problem

try:  # libyaml composes about 10x faster; marks and shared alias nodes work the same
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pyyaml built without libyaml
    _BaseLoader = yaml.SafeLoader

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Limits:
    """How big a document may be. Stated once, printed in messages, listed in the schema."""

    max_bytes: int = 64 * 1024 * 1024
    max_nodes: int = 10_000_000  # after expanding aliases
    max_depth: int = 64


DEFAULT_LIMITS = Limits()
# A scenario or a price request is a few hundred values; a catalog may be millions.
LIMITS = {
    "scenario": Limits(max_bytes=8 * 1024 * 1024, max_nodes=500_000),
    "quote-request": Limits(max_bytes=32 * 1024 * 1024, max_nodes=2_000_000),
    "catalog": DEFAULT_LIMITS,
    "approval_policy": Limits(max_bytes=4 * 1024 * 1024, max_nodes=200_000),
}


@dataclass
class Document:
    """Plain data read from a file, and where each value of it was written."""

    path: str
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def mark(self, loc: Loc) -> tuple[int, int] | None:
        """(line, column), 1-based, of ``loc`` or of its nearest enclosing value."""
        for end in range(len(loc), -1, -1):
            found = self.marks.get(tuple(loc[:end]))
            if found is not None:
                return found
        return None

    def problem(self, loc: Loc | str, message: str, code: str | None = None) -> Problem:
        """A problem at ``loc`` (a tuple, or a dotted path such as ``a.b[2].c``)."""
        parts = parse_path(loc) if isinstance(loc, str) else loc
        line_col = self.mark(parts)
        return Problem(
            where=loc if isinstance(loc, str) else format_path(loc),
            message=message,
            line=line_col[0] if line_col else None,
            column=line_col[1] if line_col else None,
            code=code,
        )


# ------------------------------------------------------------------------------ paths

_PATH_TOKEN = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def parse_path(text: str) -> Loc:
    """``offerings[3].relations[0]`` -> ``("offerings", 3, "relations", 0)``."""
    parts: list[str | int] = []
    for index, name in _PATH_TOKEN.findall(text):
        parts.append(int(index) if index else name)
    return tuple(parts)


def format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# ----------------------------------------------------------------------------- loader

_SPECIAL_FLOATS = {
    ".inf": "Infinity",
    "+.inf": "Infinity",
    "-.inf": "-Infinity",
    ".nan": "NaN",
}


class _ExactLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML whose floats become exact Decimals (``19.99`` and ``"19.99"`` agree)."""


def _construct_decimal(loader: Any, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")
    special = _SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return Decimal(special)  # refused later by the model, with the field named
    if ":" in text:  # YAML 1.1 sexagesimal (1:30.5): rare, but exact too
        total = Decimal(0)
        for part in text.lstrip("+-").split(":"):
            total = total * 60 + Decimal(part)
        return -total if text.startswith("-") else total
    return Decimal(text)


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _line_col(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def read_document(path: str | Path, what: str = "file", limits: Limits | None = None) -> Document:
    """Read ``path`` as one YAML (or JSON) document; refuse anything unsafe, with reasons."""
    limits = limits or LIMITS.get(what, DEFAULT_LIMITS)
    source = str(path)
    text = _read_text(Path(path), source, limits)
    loader = _ExactLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(source, exc) from None
        except yaml.YAMLError as exc:
            raise InputInvalid(source, [Problem("", f"not valid YAML: {exc}")]) from None
        except RecursionError:
            raise InputInvalid(
                source, [Problem("", f"nested too deeply (limit {limits.max_depth} levels)")]
            ) from None
        if node is None:
            raise InputInvalid(source, [Problem("", f"the {what} file is empty")])
        marks = _measure(node, source, limits)
        try:
            data = loader.construct_document(node)
        except (yaml.YAMLError, ValueError, ArithmeticError) as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            column = mark.column + 1 if mark else None
            reason = getattr(exc, "problem", None) or str(exc)
            raise InputInvalid(
                source, [Problem("", f"cannot read a value: {reason}", line, column)]
            ) from None
    finally:
        loader.dispose()
    return Document(path=source, data=data, marks=marks)


def _read_text(path: Path, source: str, limits: Limits) -> str:
    def refuse(reason: str) -> InputInvalid:
        return InputInvalid(source, [Problem("", reason)])

    if not path.exists():
        raise refuse("no such file")
    if path.is_dir():
        raise refuse("is a folder, not a file")
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise refuse(
                f"the file is {size / 2**20:.1f} MiB, over the limit of "
                f"{limits.max_bytes / 2**20:.0f} MiB"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputInvalid(
            source,
            [
                Problem(
                    "",
                    f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded "
                    "(save the file as UTF-8)",
                    line,
                    column,
                )
            ],
        ) from None


def _syntax_error(source: str, exc: yaml.MarkedYAMLError) -> InputInvalid:
    mark = exc.problem_mark or exc.context_mark
    reason = exc.problem or "syntax error"
    if exc.context:
        reason = f"{reason} ({exc.context}"
        if exc.context_mark is not None and exc.context_mark is not mark:
            reason += f" at line {exc.context_mark.line + 1}"
        reason += ")"
    return InputInvalid(
        source,
        [
            Problem(
                "",
                f"not valid YAML: {reason}",
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
                code="yaml_syntax",
            )
        ],
    )


def _children(node: yaml.Node) -> Iterator[tuple[str | int | None, yaml.Node, yaml.Node]]:
    """(key, node to measure, node whose mark names the value) for each child."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: str | int | None = None
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            yield None, key_node, key_node
            yield key, value_node, key_node
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield i, item, item


def _measure(root: yaml.Node, source: str, limits: Limits) -> dict[Loc, tuple[int, int]]:
    """Refuse a document whose aliases expand too far or nest too deep; collect marks.

    Sizes are computed per node once (an alias is the same node object, so a chain of
    aliases costs one visit each), which is what makes the check itself cheap.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, depth)
    in_progress: set[int] = set()
    marks: dict[Loc, tuple[int, int]] = {(): _line_col(root)}
    problems: list[Problem] = []

    def size_of(node: yaml.Node, loc: Loc | None, level: int) -> tuple[int, int]:
        if level > limits.max_depth:
            line, col = _line_col(node)
            raise InputInvalid(
                source,
                [Problem("", f"nested deeper than {limits.max_depth} levels", line, col)],
            )
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in in_progress:
            line, col = _line_col(node)
            raise InputInvalid(source, [Problem("", "an alias refers to itself", line, col)])
        in_progress.add(id(node))
        total, depth = 1, 0
        seen_keys: dict[str, int] = {}
        for key, child, marked in _children(node):
            child_loc = None
            if loc is not None and key is not None:
                child_loc = (*loc, key)
                marks.setdefault(child_loc, _line_col(marked))
            if key is not None and isinstance(node, yaml.MappingNode) and key != "<<":
                if key in seen_keys:
                    line, col = _line_col(marked)
                    where = format_path(child_loc) if child_loc else str(key)
                    problems.append(
                        Problem(
                            where,
                            f"key {key!r} appears twice in one mapping (first on line "
                            f"{seen_keys[key]}); only one can count",
                            line,
                            col,
                        )
                    )
                else:
                    seen_keys[key] = _line_col(marked)[0]
            # Marks are kept along the first path to a node only: a shared (aliased) node
            # is measured once, and its later uses point at the alias.
            first_visit = id(child) not in sizes
            n, d = size_of(child, child_loc if first_visit else None, level + 1)
            if level + 1 + d > limits.max_depth:
                line, col = _line_col(child)
                raise InputInvalid(
                    source,
                    [Problem("", f"nested deeper than {limits.max_depth} levels", line, col)],
                )
            total += n
            depth = max(depth, d + 1)
            if total > limits.max_nodes:
                line, col = _line_col(node)
                raise InputInvalid(
                    source,
                    [
                        Problem(
                            "",
                            f"the document expands to more than {limits.max_nodes:,} values "
                            "(aliases included); refusing to read it",
                            line,
                            col,
                        )
                    ],
                )
        in_progress.discard(id(node))
        sizes[id(node)] = (total, depth)
        return total, depth

    size_of(root, (), 0)
    if problems:
        raise InputInvalid(source, problems)
    return marks

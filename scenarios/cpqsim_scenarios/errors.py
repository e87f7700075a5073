"""Input errors people can act on, and the exit codes that are part of the interface.

A problem names the file, the line and column, the field path, what is wrong with the
value (echoing it) and, for a misspelt field or choice, what was probably meant. Library
internals (pydantic's union tags, "instance of SomeModel") never reach the user.

Exit codes: 0 success (every invariant holds, or the input is valid), 1 an invariant
was violated, 2 the input is invalid, 3 cpqsim itself failed (a bug: please report it).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from cpqsim_host.scenario import suggestion
from pydantic import BaseModel, ValidationError

EXIT_OK = 0
EXIT_INVARIANT_VIOLATED = 1
EXIT_INVALID_INPUT = 2
EXIT_INTERNAL_ERROR = 3

SHOWN_PROBLEMS = 20  # on screen; ``--json`` lists them all


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as the input allows."""

    where: str  # field path, e.g. ``traffic.mix[0].lines[1].quantity``; "" = the whole file
    message: str
    line: int | None = None
    column: int | None = None
    code: str | None = None

    def render(self, path: str) -> str:
        place = path
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        field = f" {self.where}:" if self.where else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{place}:{field}{code} {self.message}"

    def to_json(self, path: str) -> dict[str, Any]:
        return {"file": path, **asdict(self)}


class InputInvalid(Exception):
    """Bad user input: every problem found, each naming where it is."""

    def __init__(self, path: str, problems: Sequence[Problem | tuple[str, str]]) -> None:
        self.path = str(path)
        self.problems: list[Problem] = [
            p if isinstance(p, Problem) else Problem(where=p[0], message=p[1]) for p in problems
        ]
        super().__init__(self.headline())

    def headline(self) -> str:
        n = len(self.problems)
        return f"{self.path}: invalid ({n} problem{'s' if n != 1 else ''})"

    def lines(self, limit: int | None = None) -> list[str]:
        shown = self.problems if limit is None else self.problems[:limit]
        out = [f"  {p.render(self.path)}" for p in shown]
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            out.append(f"  ... and {hidden:,} more (--json lists every problem)")
        return out

    def __str__(self) -> str:
        return "\n".join([self.headline(), *self.lines(SHOWN_PROBLEMS)])

    def to_json(self) -> dict[str, Any]:
        return {
            "error": "invalid_input",
            "file": self.path,
            "problems": [p.to_json(self.path) for p in self.problems],
        }


# ----------------------------------------------------------------- pydantic, for people

_PREFIXES = ("Value error, ", "Assertion failed, ")
_INSTANCE_OF = re.compile(r"a valid dictionary or instance of \w+")
_QUOTED = re.compile(r"'([^']*)'")


def _show(value: Any) -> str | None:
    """A short echo of an offending scalar value; None for containers."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, str | int | float | Decimal):
        text = repr(value) if isinstance(value, str) else str(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return None


def _walk(data: Any, loc: Iterable[Any]) -> tuple[tuple[Any, ...], bool]:
    """Follow ``loc`` through the user's data, dropping parts that are not in it.

    pydantic puts the tag of each union member it tried into an error's location
    (``policy.literal['robust','naive']``); those parts are not places in the file.
    Returns the cleaned location and whether its last part exists in the data.
    """
    cleaned: list[Any] = []
    node, found = data, True
    parts = list(loc)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node, found = node[part], True
            cleaned.append(part)
        elif last or not isinstance(part, str) or not _looks_like_tag(part):
            cleaned.append(part)  # a field that is missing: still the place to name
            node, found = None, False
        # else: a union tag, skipped
    return tuple(cleaned), found


def _looks_like_tag(part: str) -> bool:
    return (
        "[" in part
        or part[:1].isupper()
        or part
        in {"str", "int", "float", "bool", "decimal", "date", "datetime", "list", "dict", "none"}
    )


def _annotation_fields(annotation: Any, seen: set[int]) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (through Optional, list, dict, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _annotation_fields(args[0], seen)
    models: list[type[BaseModel]] = []
    if origin in (typing.Union, types.UnionType, list, tuple, set, frozenset, dict):
        members = args[1:] if origin is dict else args
        for member in members:
            models += _annotation_fields(member, seen)
    return models


def _models_at(model: type[BaseModel], loc: Sequence[Any]) -> list[type[BaseModel]]:
    """Which models describe the mapping at ``loc`` (for 'did you mean' on a field)."""
    current: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue  # list index: same item type
        nxt: list[type[BaseModel]] = []
        for m in current:
            info = m.model_fields.get(part)
            if info is not None:
                nxt += _annotation_fields(info.annotation, set())
            else:  # a dict key (e.g. a downstream system name): the value type
                for f in m.model_fields.values():
                    if typing.get_origin(f.annotation) is dict:
                        nxt += _annotation_fields(f.annotation, set())
        current = nxt or current
        if not nxt:
            return []
    return current


def problems_from_validation(
    error: ValidationError,
    data: Any,
    model: type[BaseModel],
    locate: typing.Callable[[tuple[Any, ...]], tuple[int, int] | None] | None = None,
    prefix: tuple[Any, ...] = (),
) -> list[Problem]:
    """pydantic's errors as problems a person can act on (merged per place)."""
    merged: dict[tuple[Any, ...], list[str]] = {}
    order: list[tuple[Any, ...]] = []
    for err in error.errors(include_url=False):
        loc, _ = _walk(data, err["loc"])
        kind = err["type"]
        value = err.get("input")
        field = loc[-1] if loc else ""
        if kind == "extra_forbidden":
            allowed = {n for m in _models_at(model, loc[:-1]) for n in m.model_fields}
            message = f"unknown field {field!r}"
            guess = suggestion(str(field), allowed)
            if guess:
                message += f"; did you mean {guess!r}?"
            elif allowed and len(allowed) <= 12:
                message += f" (allowed: {', '.join(sorted(allowed))})"
        elif kind == "missing":
            message = f"missing required field {field!r}"
        else:
            message = str(err["msg"])
            for p in _PREFIXES:
                message = message.removeprefix(p)
            message = _INSTANCE_OF.sub("a mapping", message)
            shown = _show(value)
            if shown is not None and shown not in message:
                message += f" (got {shown})"
                choices = _QUOTED.findall(str(err["msg"])) if kind == "literal_error" else []
                guess = suggestion(str(value), choices) if isinstance(value, str) else None
                if guess:
                    message += f"; did you mean {guess!r}?"
        key = (*prefix, *loc)
        if key not in merged:
            merged[key] = []
            order.append(key)
        if message not in merged[key]:
            merged[key].append(message)
    out = []
    for key in order:
        messages = merged[key]
        text = messages[0] if len(messages) == 1 else "; or ".join(messages)
        line_col = locate(key) if locate else None
        out.append(
            Problem(
                where=_format(key),
                message=text,
                line=line_col[0] if line_col else None,
                column=line_col[1] if line_col else None,
            )
        )
    return out


def _format(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Kept for callers that only want ``(path, message)`` pairs."""
    return [(p.where, p.message) for p in problems_from_validation(exc, None, BaseModel)]

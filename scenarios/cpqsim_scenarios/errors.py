"""Input errors that name the file, the field and the reason, with distinct exit codes."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVARIANT_VIOLATED = 1
EXIT_INVALID_INPUT = 2


class InputInvalid(Exception):
    """Bad user input. ``problems`` are ``(field_path, reason)`` pairs."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.path}: invalid ({len(self.problems)} problem(s))"]
        lines += [f"  - {where or '<file>'}: {why}" for where, why in self.problems]
        return "\n".join(lines)


def pydantic_problems(exc) -> list[tuple[str, str]]:
    """pydantic's ValidationError as ``(dotted.path[0].field, message)`` pairs."""
    out = []
    for err in exc.errors():
        where = ""
        for part in err["loc"]:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        out.append((where, err["msg"]))
    return out

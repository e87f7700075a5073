"""``cpqsim approval-policy validate FILE``: check an approval policy before using it.

Kept out of ``cli.py`` (one small hunk registers it): the command reads the file with
the same loader scenarios use, prints the rules and chains it would apply, and exits 2
with every problem placed (file:line, field, the rules named) when the file is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cpqsim_scenarios.errors import InputInvalid


def register(app: typer.Typer, fail_input: Callable[..., Any], out: Console) -> None:
    approval_app = typer.Typer(help="Validate approval policy files.", no_args_is_help=True)
    app.add_typer(approval_app, name="approval-policy")

    @approval_app.command("validate")
    def validate(
        file: Annotated[Path, typer.Argument(help="approval policy YAML or JSON")],
        as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
    ) -> None:
        """Validate an approval policy: shape, roles, overlapping rules; exit 2 when invalid."""
        from cpqsim_scenarios.approval_policy_file import load_approval_policy

        try:
            policy = load_approval_policy(file)
        except InputInvalid as exc:
            fail_input(exc, as_json)
        rules = [{"id": r.id, "chain": r.steps} for r in policy.rules]
        if as_json:
            summary = {"valid": True, "file": str(file), "version": policy.version, "rules": rules}
            print(json.dumps(summary, indent=2, sort_keys=True))
            return
        out.print(
            f"[green]valid[/]: {escape(str(file))} — approval policy {escape(policy.version)}, "
            f"{len(policy.rules)} rules"
        )
        for rule in rules:
            out.print(f"  {escape(rule['id'])}: {escape(' then '.join(rule['chain']))}")

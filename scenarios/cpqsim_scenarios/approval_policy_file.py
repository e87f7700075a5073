"""Approval policy files: read, validate and refuse a contradictory one with every rule named.

The policy's shape is checked by pydantic (unknown fields, types, bounds) and its
consistency by the core's :func:`cpqsim.approval.policy_problems` (overlapping rules,
roles without approval authority, delegations that end before they start); both kinds
of problem are placed in the file by line and field, and the file is refused whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cpqsim.approval import ApprovalPolicy, policy_problems
from cpqsim_scenarios.documents import LIMITS, Document, read_document
from cpqsim_scenarios.errors import InputInvalid, problems_from_validation

WHAT = "approval policy"


def policy_from_document(document: Document) -> ApprovalPolicy:
    """``document`` as an approval policy; raise ``InputInvalid`` placing every problem."""
    if not isinstance(document.data, dict):
        found = type(document.data).__name__
        raise InputInvalid(
            document.path,
            [document.problem((), f"an {WHAT} file must be a mapping of fields, not a {found}")],
        )
    if "version" not in document.data:
        raise InputInvalid(
            document.path,
            [document.problem((), "missing required field 'version' (every policy is versioned)")],
        )
    try:
        policy = ApprovalPolicy.model_validate(document.data, context={"shape_only": True})
    except ValidationError as exc:
        raise InputInvalid(
            document.path,
            problems_from_validation(exc, document.data, ApprovalPolicy, locate=document.mark),
        ) from None
    problems = [document.problem(loc, message) for loc, message in policy_problems(policy)]
    if problems:
        raise InputInvalid(document.path, problems)
    return policy


def load_approval_policy(path: str | Path) -> ApprovalPolicy:
    """Read one approval policy file (YAML or JSON)."""
    return policy_from_document(read_document(path, WHAT, LIMITS["approval_policy"]))


def policy_from_data(data: Any, source: str = "request body") -> ApprovalPolicy:
    """A policy sent as plain data (over HTTP): the same checks as a file."""
    return policy_from_document(Document(path=source, data=data))


def policy_beside(
    document: Document, reference: str, field: str = "approval_policy"
) -> ApprovalPolicy:
    """Load the approval policy a file refers to, relative to that file."""
    policy_path = (Path(document.path).parent / reference).resolve()
    if not policy_path.is_file():
        reason = "is a folder" if policy_path.is_dir() else "does not exist"
        raise InputInvalid(
            document.path,
            [document.problem((field,), f"{WHAT} {policy_path} {reason} (got {reference!r})")],
        )
    return load_approval_policy(policy_path)

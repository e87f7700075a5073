"""HTTP for the approval policy in force on the live platform.

``GET /policy/approvalPolicy`` shows any caller the policy deciding approvals now (its
version is the one every approval fact records). ``PUT /policy/approvalPolicy`` (a finance
director or a policy administrator only) puts a new version in force on every quote
shard: the body is the policy as JSON (the same fields as the YAML file), checked exactly
as a file is (shape, roles, overlapping rules); an invalid policy is a 422 naming each
problem's field, and the same version with other content a 409, so a version always names
one content. Each shard records the change as a fact (``approval_policy.published``), and
replays back into it after a restart.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI

from cpqsim_actors.auth import Caller, require
from cpqsim_actors.fast_json import FastJSONResponse as JSONResponse
from cpqsim_actors.http_errors import error_doc, error_response
from cpqsim_actors.platform import PolicyVersionConflict
from cpqsim_scenarios.approval_policy_file import policy_from_data
from cpqsim_scenarios.errors import InputInvalid

POLICY_PATH = "/policy/approvalPolicy"


def install_approval_policy_routes(app: FastAPI, platform: Any) -> None:
    """Add the approval policy routes to the gateway ``app``."""

    @app.get(POLICY_PATH, tags=["policy"], summary="The approval policy in force")
    async def get_approval_policy():
        return JSONResponse(platform.approval_policy_in_force.model_dump(mode="json"))

    @app.put(
        POLICY_PATH,
        tags=["policy"],
        responses={
            201: {"description": "The new version is in force"},
            **error_doc(400, 403, 409, 413, 422),
        },
        summary="Put a new approval policy version in force (JSON body, as the YAML file)",
    )
    async def put_approval_policy(body: Annotated[dict[str, Any], Body()], caller: Caller):
        require(caller, "policy.approval.put")  # who sets approval authority is no seller
        try:
            policy = policy_from_data(body)
        except InputInvalid as exc:
            violations = [{"field": p.where, "reason": p.message} for p in exc.problems]
            return error_response(
                422, "invalid_approval_policy", "the approval policy is refused", violations
            )
        try:
            changed = await platform.publish_approval_policy(policy)
        except PolicyVersionConflict as exc:
            return error_response(409, "approval_policy_version_conflict", str(exc))
        return JSONResponse(policy.model_dump(mode="json"), status_code=201 if changed else 200)

"""Schema-driven fuzzing of the gateway's OpenAPI document (schemathesis).

For every operation the document declares, schemathesis generates requests that follow
the schema and requests that break it, sends them to the app (in-process platform, no
Ray) and checks each answer: never a 5xx, a status the operation declares, and a body
that conforms to the schema declared for that status. Bounded in examples (and
derandomized) so it runs in CI in well under a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cpqsim.principals import Principal
from cpqsim_actors.auth import PrincipalDirectory, token_hash
from cpqsim_actors.gateway import create_app

from .local_gateway import local_platform

EXAMPLES_PER_OPERATION = 25


# Built at collection (schemathesis parametrizes per operation from the document). The
# document is taken from the app object, not over HTTP, so the platform starts (its
# actors' loops run) only when this module's tests do; the fixture below stops it.
# The fuzzer calls with every role on every account, so that the role and scope checks
# let it reach as deep as a request can go; schemathesis also calls without the token
# (the "ignored_auth" check) and expects the 401 every closed operation declares.
FUZZER_TOKEN = "fuzzer-token"
EVERY_ROLE = {"seller", "sales_manager", "finance_director", "operations", "operations_lead"}
FUZZER = Principal(id="fuzzer", roles=frozenset(EVERY_ROLE), accounts=None)
PRINCIPALS = PrincipalDirectory({token_hash(FUZZER_TOKEN): FUZZER}, "fuzz principals")
PLATFORM = local_platform()
APP = create_app(PLATFORM, PRINCIPALS, hub_poll_s=0.2)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP
schema.location = "/openapi.json"
# Explicit examples and property-based fuzzing (valid and invalid data). The "coverage"
# phase enumerates boundary bodies at collection time: ~50 s here, over the CI budget.
schema.config.phases.update(phases=["examples", "fuzzing"])


@pytest.fixture(scope="module", autouse=True)
def _release_the_platform():
    yield
    schemathesis_asgi.shutdown_lifespans()  # stops the hub's senders before the platform
    PLATFORM.shutdown()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_declared_contract(case):
    # Every built-in check but "schema-valid data must be accepted": a schema cannot say
    # which offerings exist or which quote ids do, and a well-formed request for an
    # unknown offering is rightly a 422.
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {FUZZER_TOKEN}"},
        excluded_checks=[positive_data_acceptance],
    )
    assert response.status_code < 500, response.text

"""Presentation, expiry and guarded conversion behave the same on every runtime.

Given a library scenario with a quote policy, when it runs on ``sim``, ``inprocess`` and
``ray``, then every acceptance names the proposal presented just before it, offers not
taken up within their validity are expired by each runtime's own timer (virtual time in
the sim, the scaled wall clock live), and a lapsed offer is never converted.
"""

from __future__ import annotations

import functools

import pytest
from cpqsim_host.scenario import Scenario

from .conftest import Judged, Runtime, variant

pytestmark = pytest.mark.slow

H = 3600.0
SHORT_DAY = {"duration_s": 2 * H, "drain_s": 4 * H}


def _with_policy(**policy) -> dict:
    return {"quote_policy": Scenario.model_fields["quote_policy"].annotation(**policy)}


@functools.cache
def on_sim(case: str) -> Judged:
    return Runtime("sim").run(CASES[case]())


CASES = {
    "presented": lambda: variant("happy_path", **SHORT_DAY),
    "expired_before_acceptance": lambda: variant(
        "happy_path",
        **SHORT_DAY,
        **_with_policy(validity_hours=1),
        traffic={"customer_decision_s": 2 * H},
    ),
    "lapsed_before_conversion": lambda: variant(
        "happy_path", **SHORT_DAY, **_with_policy(validity_hours=30 / H)
    ),
}


def test_every_acceptance_names_the_proposal_presented_before_it(runtime):
    run = runtime.run(CASES["presented"]())
    presented = {
        (e.data["quote_id"], e.data["revision"]): e.data["proposal_sha256"]
        for e in run.events("quote.presented")
    }
    accepted = run.events("quote.accepted")
    assert accepted
    for event in accepted:
        key = (event.data["quote_id"], event.data["revision"])
        assert event.data["proposal_sha256"] == presented[key], key
    assert run.output.stats.presented == on_sim("presented").output.stats.presented
    assert run.verdict == "pass"


def test_offers_not_taken_up_within_their_validity_expire_on_every_runtime(runtime):
    run = runtime.run(CASES["expired_before_acceptance"]())
    presented = {e.data["quote_id"] for e in run.events("quote.presented")}
    expired = {e.data["quote_id"] for e in run.events("quote.expired")}
    assert presented and expired == presented
    assert not run.events("quote.accepted") and not run.events("order.created")
    assert run.output.stats.commands_refused >= len(presented)  # the late acceptances
    assert len(presented) == len(on_sim("expired_before_acceptance").events("quote.presented"))


def test_a_lapsed_offer_is_never_converted_on_every_runtime(runtime):
    run = runtime.run(CASES["lapsed_before_conversion"]())
    presented = {e.data["quote_id"] for e in run.events("quote.presented")}
    accepted = {e.data["quote_id"] for e in run.events("quote.accepted")}
    expired = {e.data["quote_id"] for e in run.events("quote.expired")}
    # Live, a batch can reach the shard after a 30-second offer lapsed: then the
    # acceptance is refused instead; either way every offer ends expired, none ordered.
    assert accepted and accepted <= expired and expired == presented
    assert not run.events("quote.converted_to_order") and not run.events("order.created")
    stats = run.output.stats
    assert stats.converted == 0 and stats.conversions_refused >= len(accepted)
    assert len(presented) == len(on_sim("lapsed_before_conversion").events("quote.presented"))

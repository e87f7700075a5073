"""``cpqsim evidence``: a quote's evidence package, read from a run folder, re-verified.

The run folder's ``events.jsonl`` holds every fact; only the lines of the quote (and of
the order its conversion named) are parsed, so a run of a million events is read in one
streaming pass per subject. Verification prices the stored request again against the
catalog versions of the run's scenario (named in ``result.json``, or given with
``--scenario``), renders the proposal again and compares every fingerprint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from cpqsim_host.scenario import suggestion

from cpqsim.events import CloudEvent
from cpqsim.evidence import (
    EvidencePackage,
    Verification,
    evidence_package,
    render_accepted_proposal,
    verify_evidence,
)
from cpqsim.pricing import PriceRequest, PriceResult
from cpqsim.quote import QuoteServices
from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.runner import run_catalogs

_QUOTE_SUBJECT = re.compile(r'"subject":"quote/([^"]*)"')


def _lines(log: Path) -> Iterator[str]:
    with open(log, encoding="utf-8") as f:
        yield from f


def _subject_events(log: Path, subject: str) -> list[CloudEvent]:
    marker = f'"subject":{json.dumps(subject)}'
    events = []
    for n, line in enumerate(_lines(log), start=1):
        if marker not in line:
            continue
        try:
            event = CloudEvent.model_validate_json(line)
        except ValueError as exc:
            raise InputInvalid(str(log), [(f"line {n}", f"not a CloudEvent: {exc}")]) from None
        if event.subject == subject:
            events.append(event)
    return events


def _events_file(run_dir: Path) -> Path:
    if not run_dir.is_dir():
        raise InputInvalid(str(run_dir), [("", "is not a folder (expected a run folder)")])
    log = run_dir / "events.jsonl"
    if not log.is_file():
        raise InputInvalid(str(run_dir), [("", "has no events.jsonl: is it a run folder?")])
    return log


def read_evidence(quote_id: str, run_dir: Path) -> EvidencePackage:
    """The quote's package from the run folder; unknown quote -> InputInvalid with a guess."""
    log = _events_file(run_dir)
    events = _subject_events(log, f"quote/{quote_id}")
    package = evidence_package(quote_id, events)
    if package is None:
        known = {m.group(1) for line in _lines(log) if (m := _QUOTE_SUBJECT.search(line))}
        guess = suggestion(quote_id, sorted(known))
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise InputInvalid(
            str(log), [("", f"no quote {quote_id!r} in this run ({len(known)} quotes){hint}")]
        )
    if package.order_id is not None:
        order_events = _subject_events(log, f"order/{package.order_id}")
        package = evidence_package(quote_id, [*events, *order_events])
        assert package is not None
    return package


def _scenario_path(run_dir: Path, scenario: Path | None) -> Path:
    if scenario is not None:
        return scenario
    result = run_dir / "result.json"
    try:
        named = json.loads(result.read_text(encoding="utf-8")).get("scenario_file")
    except (OSError, ValueError) as exc:
        raise InputInvalid(
            str(result), [("", f"cannot read it ({exc}): pass --scenario to verify")]
        ) from None
    if not named:
        raise InputInvalid(str(result), [("scenario_file", "missing: pass --scenario to verify")])
    return Path(named)


def verify_from_run(
    package: EvidencePackage, run_dir: Path, scenario: Path | None = None
) -> Verification:
    """Re-verify against the catalog versions of the run's scenario."""
    loaded = load_scenario(_scenario_path(run_dir, scenario))
    catalogs = {c.version: c for c in run_catalogs(loaded)}

    def price(request: PriceRequest, version: str) -> PriceResult:
        return QuoteServices(catalog=catalogs[version]).price(request)

    return verify_evidence(package, price)


def summary_lines(
    package: EvidencePackage, verification: Verification | None, show_proposal: bool
) -> list[str]:
    """The package as a reader wants it on a screen."""
    p = package
    lines = [
        f"quote {p.quote_id}  account {p.account_id}  requester {p.requester}  status {p.status}",
        f"  accepted revision: {p.accepted_revision if p.accepted_revision else '-'}",
        f"  snapshot fingerprint: {p.snapshot_fingerprint or '-'}",
        f"  configuration fingerprint: {p.configuration_fingerprint or '-'}",
        f"  price fingerprint: {p.price_fingerprint or '-'}"
        + (f" ({len(p.price.trace)} trace steps)" if p.price is not None else ""),
    ]
    for d in p.approvals:
        lines.append(
            f"  {d.decision} by {d.actor} as {d.role} under {d.policy_version or '-'} at {d.time}"
        )
    if p.proposal is not None:
        lines.append(
            f"  proposal sha256 {p.proposal.sha256}, presented {p.proposal.recorded.time}, "
            f"valid until {p.proposal.valid_until.isoformat()}"
        )
    if p.acceptance is not None:
        lines.append(
            f"  accepted by {p.acceptance.recorded.actor} at {p.acceptance.recorded.time}"
            f" (proposal {p.acceptance.proposal_sha256 or 'not presented'})"
        )
    if p.conversion is not None:
        lines.append(
            f"  converted to order {p.conversion.order_id} by {p.conversion.recorded.actor} at "
            f"{p.conversion.recorded.time} (key {p.conversion.idempotency_key})"
        )
    if verification is not None:
        verdict = "every fingerprint holds" if verification.ok else "FAILED"
        lines.append(f"verification: {verdict}")
        for c in verification.checks:
            lines.append(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
    if show_proposal:
        document = render_accepted_proposal(package)
        lines += ["", document if document is not None else "(no presented proposal)"]
    return lines

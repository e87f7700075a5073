"""Which facts are decisions someone must answer for, and how each becomes an audit entry.

The audit log is not a second event log: it keeps the facts a person (or the platform on
its own authority) decided and would be asked about later — an approval or rejection, an
escalation, a discount given by hand, a repair of fallout, a cancellation, an acceptance,
a conversion. Who decided and under which role come from the fact's own data where it
names them (the approver and role of an approval, the operator of a repair), otherwise
from the envelope's ``actor``. The table below is the whole rule; a new decision fact is
one row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from cpqsim.audit import AuditChain
from cpqsim.events import CloudEvent

# (actor, authority, reason) of a decision, or None when the fact is not one.
Who = tuple[str, str, str]
Reader = Callable[[CloudEvent], Who | None]


def _data(event: CloudEvent, key: str, default: str = "") -> str:
    value = event.data.get(key)
    return default if value is None else str(value)


def _discounted(event: CloudEvent) -> Who | None:
    """A quote created or revised with a discount: a price given by hand (an override)."""
    try:
        discount = Decimal(_data(event, "discount_pct", "0"))
    except InvalidOperation:
        discount = Decimal(1)  # unreadable: record it rather than let it pass unseen
    if discount <= 0:
        return None
    actor = _data(event, "requester") or event.actor
    reason = f"manual discount {(discount * 100).normalize():f}%"  # a fraction in the fact
    if event.data.get("reason"):
        reason += f": {event.data['reason']}"
    return actor, "seller", reason


def _approval(event: CloudEvent) -> Who:
    return _data(event, "approver", event.actor), _data(event, "role"), _data(event, "reason")


def _step(event: CloudEvent) -> Who:
    """One step of a chain approved, or an attempt refused: who, under which role, why
    (with the delegator when acting on someone's behalf, and the policy version)."""
    reason = _data(event, "reason")
    if event.name == "quote.approval_refused":
        reason = f"{_data(event, 'decision')} refused: {reason}"
    else:
        reason = f"step {_data(event, 'step')}: {reason}".rstrip(": ")
    if event.data.get("on_behalf_of"):
        reason += f" (on behalf of {event.data['on_behalf_of']})"
    if event.data.get("policy_version"):
        reason += f" [{event.data['policy_version']}]"
    return _data(event, "approver", event.actor), _data(event, "role"), reason


def _escalation(event: CloudEvent) -> Who:
    reason = f"approval owned by {_data(event, 'owner')}"
    if event.data.get("reason"):
        reason += f": {event.data['reason']}"
    return event.actor, _data(event, "required_role"), reason


def _repair(event: CloudEvent) -> Who:
    reason = f"{_data(event, 'action')} on case {_data(event, 'case_id')}"
    if event.data.get("reason"):
        reason += f": {event.data['reason']}"
    return _data(event, "actor", event.actor), _data(event, "role"), reason


def _order_cancellation(event: CloudEvent) -> Who:
    return (
        _data(event, "requested_by", event.actor),
        _data(event, "kind"),
        _data(event, "reason"),
    )


def _by_envelope(authority: str, reason: Callable[[CloudEvent], str]) -> Reader:
    return lambda event: (event.actor, authority, reason(event))


#: Every decision fact, by name, and how to read who decided it under which authority.
DECISIONS: dict[str, Reader] = {
    "quote.created": _discounted,
    "quote.revised": _discounted,
    "quote.approved": _approval,
    "quote.rejected": _approval,
    "quote.approval_step_approved": _step,
    "quote.approval_refused": _step,
    "quote.approval_escalated": _escalation,
    "quote.cancelled": _by_envelope("seller", lambda e: _data(e, "reason")),
    "quote.accepted": _by_envelope(
        "seller", lambda e: f"accepted snapshot {_data(e, 'snapshot_fingerprint')}"
    ),
    "quote.converted_to_order": _by_envelope(
        "seller", lambda e: f"order {_data(e, 'order_id')} (key {_data(e, 'idempotency_key')})"
    ),
    "order.fallout_resolved": _repair,
    "order.repair_refused": _repair,
    "order.cancellation_accepted": _order_cancellation,
}


# Every event of a run passes here: its reader is looked up by envelope type, once per type.
_BY_TYPE: dict[str, Reader | None] = {}


def decision(event: CloudEvent) -> Who | None:
    """Who decided ``event`` under which authority and why, or None if it is no decision."""
    try:
        reader = _BY_TYPE[event.type]
    except KeyError:
        reader = _BY_TYPE[event.type] = DECISIONS.get(event.name)
    return None if reader is None else reader(event)


def fact_digest(event: CloudEvent) -> str:
    """``sha256:<hex>`` of the fact's canonical JSON line, as the event log holds it."""
    return "sha256:" + hashlib.sha256(event.to_json().encode("utf-8")).hexdigest()


class AuditRecorder:
    """Watches a log and appends each decision to a chain; ``write`` gets each line.

    Subscribed to an :class:`cpqsim.events.EventLog`, it sees every fact once, in log
    order, and keeps nothing but the chain's head.
    """

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.chain = AuditChain()
        self._write = write

    def observe(self, event: CloudEvent) -> str | None:
        who = decision(event)
        if who is None:
            return None
        actor, authority, reason = who
        line = self.chain.append(
            time=event.time,
            actor=actor,
            authority=authority,
            action=event.name,
            subject=event.subject,
            reason=reason,
            fact_id=event.id,
            fact_digest=fact_digest(event),
        )
        if self._write is not None:
            self._write(line + "\n")
        return line

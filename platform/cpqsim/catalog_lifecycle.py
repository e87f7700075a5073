"""What a lifecycle status of an offering version permits, kept as a table (data).

A single "inactive" flag cannot say "stop selling but keep billing the installed base",
so each status answers four questions separately:

* ``new_quotes``   — may a *new* quote line be configured on this version?
* ``new_orders``   — may a *new-sale* order line be placed on it (e.g. converting a quote
  accepted before the status changed)?
* ``keep_existing`` — may assets already installed on it stay as they are?
* ``change_existing`` — may those assets be amended (more seats, another option) while
  staying on this version?

Why each row is what it is:

* **draft** — still being authored; nobody may rely on it, and no asset can exist yet.
* **approved** — signed off but not launched; it becomes sellable only when switched to
  active, so a publication date never silently starts sales.
* **active** — the normal selling state: everything is allowed.
* **suspended** — a temporary stop (legal hold, supply problem): nothing new may be sold
  or amended, but installed assets keep running untouched until the stop is lifted.
* **retired** — end of life: nothing new, and installed assets must be migrated (usually
  along a ``replaces``/``upgradesTo`` relation); they are not left on it indefinitely.
* **grandfathered** — closed to new customers but kept for the installed base: no new
  quotes or new-sale orders, yet existing assets stay and may still be amended (adding
  seats to the old edition is what grandfathering promises).
* **superseded** — a newer version took over new sales; quotes already accepted on this
  version may still convert into orders (their commitment is honoured), and installed
  assets stay and may be amended until they are moved to the successor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

LifecycleStatus = Literal[
    "draft", "approved", "active", "suspended", "retired", "grandfathered", "superseded"
]
STATUSES: tuple[str, ...] = get_args(LifecycleStatus)

#: What a configuration or an order line is *for*; each maps to one column of the table.
Intent = Literal["new_quote", "new_order", "change_asset", "keep_asset"]
INTENTS: tuple[str, ...] = get_args(Intent)


@dataclass(frozen=True)
class StatusRule:
    new_quotes: bool
    new_orders: bool
    keep_existing: bool
    change_existing: bool
    why: str
    #: TMF620 ``lifecycleStatus`` text for exports.
    tmf: str


STATUS_RULES: dict[str, StatusRule] = {
    "draft": StatusRule(False, False, False, False, "still being authored", "In design"),
    "approved": StatusRule(False, False, False, False, "approved but not launched", "Approved"),
    "active": StatusRule(True, True, True, True, "on sale", "Active"),
    "suspended": StatusRule(False, False, True, False, "sales temporarily stopped", "Suspended"),
    "retired": StatusRule(
        False, False, False, False, "end of life; installed assets must migrate", "Retired"
    ),
    "grandfathered": StatusRule(
        False, False, True, True, "kept for the installed base only", "Grandfathered"
    ),
    "superseded": StatusRule(
        False, True, True, True, "replaced by a newer version for new sales", "Superseded"
    ),
}

_COLUMN = {
    "new_quote": "new_quotes",
    "new_order": "new_orders",
    "change_asset": "change_existing",
    "keep_asset": "keep_existing",
}
_WHAT = {
    "new_quote": "new quotes",
    "new_order": "new orders",
    "change_asset": "changes to existing assets",
    "keep_asset": "keeping existing assets",
}


def allows(status: str, intent: str) -> bool:
    """Does ``status`` permit ``intent``? Unknown statuses or intents raise KeyError."""
    return bool(getattr(STATUS_RULES[status], _COLUMN[intent]))


def refusal(status: str, intent: str) -> str:
    """A sentence explaining why ``status`` refuses ``intent`` (for violations)."""
    rule = STATUS_RULES[status]
    return f"status {status} ({rule.why}) does not allow {_WHAT[intent]}"


def status_table() -> list[dict[str, object]]:
    """The table as rows, for documentation and reports."""
    return [
        {
            "status": status,
            "new_quotes": rule.new_quotes,
            "new_orders": rule.new_orders,
            "keep_existing": rule.keep_existing,
            "change_existing": rule.change_existing,
            "why": rule.why,
        }
        for status, rule in STATUS_RULES.items()
    ]

"""``cpqsim assets``: a run's installed base, read back from its event log.

The asset facts of a run (``cpqsim.asset.*``) are enough to rebuild every asset and its
history; only the lines whose subject is an asset are parsed, in one streaming pass, so
a run of a million events is cheap to read. A line that claims to be an asset fact but
is not one is refused with its line number: a log that lies is not silently skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from cpqsim.asset import Asset, AssetEvent, AssetStatus, InstalledBase, asset_event
from cpqsim.events import CloudEvent
from cpqsim_scenarios.errors import InputInvalid

_MARKER = '"subject":"asset/'


def _events_file(run_dir: Path) -> Path:
    if not run_dir.is_dir():
        raise InputInvalid(str(run_dir), [("", "is not a folder (expected a run folder)")])
    log = run_dir / "events.jsonl"
    if not log.is_file():
        raise InputInvalid(str(run_dir), [("", "has no events.jsonl: is it a run folder?")])
    return log


def _asset_facts(log: Path) -> Iterator[AssetEvent]:
    try:
        with open(log, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if _MARKER not in line:
                    continue
                try:
                    envelope = CloudEvent.model_validate_json(line)
                    fact = asset_event(envelope.type, envelope.data)
                except (ValueError, ValidationError) as exc:
                    first = str(exc).splitlines()[0]
                    raise InputInvalid(
                        str(log), [(f"line {n}", f"not an asset fact: {first}")]
                    ) from None
                if fact is not None:
                    yield fact
    except UnicodeDecodeError as exc:
        raise InputInvalid(str(log), [("", f"is not UTF-8 text ({exc.reason})")]) from None


def read_installed_base(run_dir: Path) -> InstalledBase:
    """Every asset of the run, as its facts left it (history included)."""
    log = _events_file(run_dir)
    base = InstalledBase()
    for fact in _asset_facts(log):
        try:
            base.apply(fact)
        except (ValueError, TypeError) as exc:  # e.g. IllegalTransition, unknown asset
            raise InputInvalid(str(log), [(f"asset/{fact.asset_id}", str(exc))]) from None
    return base


def select(
    base: InstalledBase, account: str | None = None, status: AssetStatus | None = None
) -> list[Asset]:
    assets = base.of_account(account) if account is not None else list(base)
    return [a for a in assets if status is None or a.status is status]


def asset_row(asset: Asset) -> list[str]:
    """One asset as the columns of the table ``cpqsim assets`` prints."""
    return [
        asset.asset_id,
        asset.account_id,
        asset.offering,
        ", ".join(asset.options) or "-",
        str(asset.quantity),
        asset.status.value,
        str(asset.version),
        asset.parent_id or "-",
        asset.subscription_id or "-",
        f"{asset.recurring_monthly} {asset.currency}"
        if asset.recurring_monthly is not None
        else "-",
    ]

"""After a load run: ask the gateway for the invariant verdict and turn it into an exit code.

Plain HTTP (``urllib``), never Ray: Locust runs under gevent, and Ray's gRPC hangs there.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

EXIT_VIOLATED = 3  # an invariant broke (1 stays Locust's "some requests failed")
EXIT_NO_VERDICT = 4  # the gateway could not be asked


def fetch_verdict(host: str, settle_s: float, auth: dict[str, str]) -> dict[str, Any]:
    """The verdict spans every account: ``auth`` is an unscoped principal's (operations)."""
    url = f"{host.rstrip('/')}/ops/verdict?settleSeconds={settle_s:g}"
    request = urllib.request.Request(url, headers=auth)
    with urllib.request.urlopen(request, timeout=settle_s + 120) as answer:
        return json.loads(answer.read())


def summary_lines(verdict: dict[str, Any]) -> list[str]:
    states = ", ".join(f"{k} {v}" for k, v in sorted(verdict["orders_by_state"].items()))
    head = "HOLDS" if verdict["holds"] else f"VIOLATED ({verdict['violations']} violations)"
    lines = [
        f"cpqsim verdict: {head}; {verdict['events']} events; orders: {states or 'none'}"
        + (
            f"; {verdict['unsettled_orders']} still unsettled"
            if verdict["unsettled_orders"]
            else ""
        )
    ]
    for inv in verdict["invariants"]:
        mark = "ok " if inv["holds"] else "BROKEN"
        lines.append(f"  {mark} {inv['name']}" + ("" if inv["holds"] else f": {inv['violations']}"))
        lines.extend(f"        e.g. {example}" for example in inv["examples"][:3])
    return lines


def judge(
    host: str, settle_s: float, auth: dict[str, str]
) -> tuple[int | None, list[str], dict[str, Any] | None]:
    """(exit code to force or None, lines to print, the verdict) for the run just ended."""
    try:
        verdict = fetch_verdict(host, settle_s, auth)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return EXIT_NO_VERDICT, [f"cpqsim verdict: could not ask {host}: {exc}"], None
    return (None if verdict["holds"] else EXIT_VIOLATED), summary_lines(verdict), verdict

"""Canonical JSON and fingerprints.

Fingerprints bind snapshots together (price result, accepted quote, approval), so they
must not depend on dict order, float formatting or the Python version: every value is
reduced to JSON-native types with Decimals rendered as strings, keys sorted, no spaces.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

_AS_IS = frozenset({str, int, bool, type(None)})

#: Sorted keys, no spaces, UTF-8 as is: the one canonical JSON text. For values that are
#: already plain (what :func:`to_plain` returns); one encoder object serves every call.
CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_plain(value: Any) -> Any:
    """Reduce a value to JSON-native types deterministically (Decimal -> str).

    Exact-type checks come first because this runs on every event of every run: the
    common leaves (str, int) and containers are dispatched without an isinstance chain,
    and a container's leaves are kept as they are without a call each.
    """
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {
            (k if type(k) is str else str(k)): (v if type(v) in _AS_IS else to_plain(v))
            for k, v in value.items()
        }
    if kind is list or kind is tuple:
        return [v if type(v) in _AS_IS else to_plain(v) for v in value]
    if kind is Decimal:
        return format(value, "f")
    if isinstance(value, BaseModel):
        return to_plain(value.model_dump(mode="python"))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return to_plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_plain(v) for v in value)
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON; use Decimal or int")
    return value


def canonical_json(value: Any) -> str:
    """Sorted-key, compact JSON of ``value`` after :func:`to_plain`."""
    return CANONICAL_ENCODER.encode(to_plain(value))


def fingerprint(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``value``."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()

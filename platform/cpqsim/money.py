"""Exact amounts: Decimal only, never binary floats, and explicit rounding per currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator


def _no_float(value: Any) -> Any:
    """Refuse binary floats for amounts: 0.1 + 0.2 != 0.3 is not a pricing policy.

    Strings and ints are exact; a YAML float is converted exactly from its text by the
    catalog loader before it reaches here, so only floats built in code are refused.
    """
    if isinstance(value, float):
        raise ValueError(
            f"floats are not allowed for exact amounts (got {value!r}); "
            "write the amount as a string such as '19.99', or as an int"
        )
    return value


#: An exact decimal that refuses floats (money, fractions such as discounts).
Money = Annotated[Decimal, BeforeValidator(_no_float)]

#: Minor-unit places per ISO 4217 currency for the currencies the platform prices in.
CURRENCY_PLACES: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "IDR": 0,
    "JPY": 0,
    "KWD": 3,
    "SGD": 2,
    "AUD": 2,
}

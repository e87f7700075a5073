"""Quote-to-order conversion as a process manager: an accepted, converted quote -> an order.

The quote side decides *whether* a quote converts (status, idempotency key); once the
fact ``QuoteConvertedToOrder`` exists, this process manager says what the order side
must do: create exactly that order from exactly the accepted snapshot. It is pure and
idempotent — asked again for the same quote it gives the same command, and the order
side creates an order at most once per order id — so a host that crashed between the
two sides (or a relay reconciling on start) can always ask again.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from cpqsim.asset import Asset
from cpqsim.change import ChangeRefusal
from cpqsim.quote import Quote, QuoteStatus


class CreateOrder(BaseModel):
    """The order side's command: create (once per ``order_id``) and start fulfilment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    idempotency_key: str
    quote: Quote  # the converted quote, carrying its accepted snapshot verbatim
    actor: str
    caused_by: str | None = None  # id of the QuoteConvertedToOrder fact, when fresh
    #: Filled in by the runtime that holds the installed base, before the order side
    #: runs the command (see :func:`cpqsim.asset_reactions.lock_for_order`): the assets
    #: the order's change items act on, as locked for it, or why they could not be.
    assets: list[Asset] = []
    asset_refusals: list[ChangeRefusal] = []


def order_to_create(quote: Quote, actor: str, caused_by: str | None = None) -> CreateOrder | None:
    """The order a converted quote calls for; None while the quote is not converted."""
    if quote.status is not QuoteStatus.CONVERTED or quote.order_id is None:
        return None
    assert quote.conversion_key is not None and quote.accepted_snapshot is not None
    return CreateOrder(
        order_id=quote.order_id,
        idempotency_key=quote.conversion_key,
        quote=quote,
        actor=actor,
        caused_by=caused_by,
    )

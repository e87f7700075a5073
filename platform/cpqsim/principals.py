"""Who is acting: principals, their roles and accounts, and one way to compare their ids.

Identity decisions (segregation of duties, "is this my account?") compare ids. Compared as
raw strings, ``Alice``, ``alice `` and ``alice`` in full-width letters are three people, so
the requester of a quote could approve it under another spelling. Every comparison
therefore goes through :func:`principal_key`: Unicode NFKC (compatibility forms folded, so
full-width letters become ASCII), surrounding whitespace trimmed, then case-folded.
"""

from __future__ import annotations

import unicodedata

from pydantic import BaseModel, ConfigDict, Field, field_validator


def principal_key(raw: str) -> str:
    """The canonical form of a principal id, the only form identity is compared in."""
    return unicodedata.normalize("NFKC", raw).strip().casefold()


def same_principal(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` name the same principal under any spelling."""
    return principal_key(a) == principal_key(b)


class Principal(BaseModel):
    """An authenticated actor: the only source of "who" and "with which authority".

    ``accounts`` None means every account (operations, finance); an empty list means none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=100)
    roles: frozenset[str] = Field(default_factory=frozenset)
    accounts: frozenset[str] | None = None

    @field_validator("id")
    @classmethod
    def _id_is_canonical(cls, value: str) -> str:
        key = principal_key(value)
        if not key:
            raise ValueError("a principal id must not be blank")
        return key

    def has_role(self, role: str) -> bool:
        return role.strip().casefold() in {r.strip().casefold() for r in self.roles}

    def may_see(self, account_id: str) -> bool:
        """Whether this principal may read or act on ``account_id``'s quotes and orders."""
        return self.accounts is None or account_id in self.accounts

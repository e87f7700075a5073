"""Facts about catalogs: a new version was published (and is in force from then on)."""

from __future__ import annotations

from typing import ClassVar

from cpqsim.events import DomainEvent


class CatalogPublished(DomainEvent):
    aggregate: ClassVar[str] = "catalog"
    type_name: ClassVar[str] = "published"
    catalog_id: str
    catalog_version: str
    fingerprint: str

    def subject(self) -> str:
        return f"catalog/{self.catalog_id}"

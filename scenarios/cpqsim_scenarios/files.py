"""Reading user files into validated models: scenarios, catalogs, price requests.

The core takes documents (plain data); reading files is the shell's job. Every failure
becomes :class:`InputInvalid` naming the file, line, column and field, so the CLI can
exit 2 with a message instead of a traceback.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cpqsim.catalog import Catalog, CatalogInvalid, publish
from cpqsim_scenarios.documents import Document, read_document
from cpqsim_scenarios.errors import InputInvalid, Problem, problems_from_validation

M = TypeVar("M", bound=BaseModel)

MAX_CATALOG_OFFERINGS = 200_000
MAX_CATALOG_SPECIFICATIONS = 200_000


def validate_document(document: Document, model: type[M], what: str) -> M:
    """``document`` as ``model``; every problem names file, line, column and field."""
    if not isinstance(document.data, dict):
        found = type(document.data).__name__
        raise InputInvalid(
            document.path,
            [document.problem((), f"a {what} file must be a mapping of fields, not a {found}")],
        )
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        raise InputInvalid(
            document.path,
            problems_from_validation(exc, document.data, model, locate=document.mark),
        ) from None


def read_model(path: str | Path, model: type[M], what: str) -> M:
    """Parse ``path`` (YAML or JSON) into ``model``."""
    return validate_document(read_document(path, what), model, what)


def catalog_problems(document: Document, exc: CatalogInvalid) -> list[Problem]:
    """The core's catalog problems, placed in the file.

    Shape problems are re-explained from pydantic's own error (which ``publish`` was
    handling when it raised, hence ``__context__``) so they read like every other file's:
    "unknown field 'relatons'; did you mean 'relations'?" rather than pydantic's wording.
    """
    shape = exc.__context__
    if isinstance(shape, ValidationError):
        from cpqsim.catalog import Catalog as CatalogModel

        return problems_from_validation(shape, document.data, CatalogModel, locate=document.mark)
    return [document.problem(p.location, p.message, code=p.code) for p in exc.problems]


def _bounded_catalog(document: Document) -> None:
    data: Any = document.data
    if not isinstance(data, dict):
        return
    problems = []
    for key, limit in (
        ("offerings", MAX_CATALOG_OFFERINGS),
        ("specifications", MAX_CATALOG_SPECIFICATIONS),
    ):
        items = data.get(key)
        if isinstance(items, list) and len(items) > limit:
            problems.append(
                document.problem(
                    (key,), f"{len(items):,} entries, over the limit of {limit:,} per catalog"
                )
            )
    if problems:
        raise InputInvalid(document.path, problems)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector paused while a catalog is read and published.

    Why: reading and publishing a catalog allocates millions of objects that all stay
    alive (the document, then the catalog); none of them is garbage, yet every full
    collection re-examined the whole, growing heap, so the collector's share grew faster
    than the catalog (bare validation of a 50,000-offering document took 11.7x the time
    of a 5,000-offering one; see ``benchmarks/bench_catalog_publish.py``). Paused, the
    work is linear; what garbage a load leaves is collected by the next collection after
    it. A caller that had paused the collector itself keeps it paused.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_catalog_document(path: str | Path) -> Any:
    """One catalog file as plain data for the core's ``publish`` (exact numbers, bounded)."""
    with collector_paused():
        document = read_document(path, "catalog")
        _bounded_catalog(document)
    return document.data


def publish_document(document: Document) -> Catalog:
    """Publish a catalog read from ``document``; every problem placed in the file."""
    with collector_paused():
        try:
            return publish(document.data, source=document.path).catalog
        except CatalogInvalid as exc:
            raise InputInvalid(document.path, catalog_problems(document, exc)) from None


def load_catalog_file(path: str | Path) -> Catalog:
    """Read, publish and return one catalog file; every problem placed in the file."""
    with collector_paused():
        document = read_document(path, "catalog")
        _bounded_catalog(document)
        return publish_document(document)


def catalog_beside(document: Document, reference: str, field: str = "catalog") -> Catalog:
    """Load the catalog a file refers to, relative to that file.

    The catalog's own problems are reported against the catalog file (with its lines);
    a missing catalog is reported against the referring file's field.
    """
    catalog_path = (Path(document.path).parent / reference).resolve()
    if not catalog_path.is_file():
        reason = "is a folder" if catalog_path.is_dir() else "does not exist"
        raise InputInvalid(
            document.path,
            [document.problem((field,), f"catalog {catalog_path} {reason} (got {reference!r})")],
        )
    return load_catalog_file(catalog_path)

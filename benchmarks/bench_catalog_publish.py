"""Benchmark: publishing a large catalog with every check.

Generates a catalog of N offerings (default 5,000) carrying 4 relations each (20,000:
requires and contains pointing to lower-numbered offerings so the hard graph is acyclic,
plus excludes and recommends), an option group, a decomposition, a SKU, an effective
window, and a price book entry for every offering. Then it times:

* baseline — bare pydantic validation of the same document (``Catalog.model_validate``,
  no semantic checks), and
* publish  — :func:`cpqsim.catalog.publish`: validation, every semantic check (dangling
  references, cycles, cardinality, SKU/mapping duplicates, window overlaps, prices,
  pricing references) and the content fingerprint.

Prints the median of several runs beside the baseline and the ratio. Target: publish
<= 2 s for 5,000 offerings / 20,000 relations on a 2-core machine.

    .venv/bin/python benchmarks/bench_catalog_publish.py           # full size
    .venv/bin/python benchmarks/bench_catalog_publish.py --quick   # smoke run (200)
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import Any

from cpqsim.catalog import Catalog, publish

TARGET_SECONDS = 2.0


def generate(offerings: int, relations_per_offering: int = 4, seed: int = 7) -> dict[str, Any]:
    """A valid catalog document with ``offerings`` offerings and 4 relations each."""
    rng = random.Random(seed)
    specs = [{"id": f"spec-{i}", "name": f"Spec {i}"} for i in range(50)]
    docs: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for i in range(offerings):
        oid = f"off-{i:05d}"
        relations: list[dict[str, Any]] = []
        for r in range(relations_per_offering):
            kind = ("requires", "contains", "excludes", "recommends")[r % 4]
            if kind in ("requires", "contains"):
                if i == 0:
                    kind = "recommends"
                    target = rng.randrange(1, offerings)
                else:
                    target = rng.randrange(0, i)  # lower-numbered: the hard graph is acyclic
            else:
                target = rng.randrange(0, offerings)
            rel: dict[str, Any] = {"kind": kind, "target": f"off-{target:05d}"}
            if kind == "contains":
                rel.update(min=0, max=2)
            relations.append(rel)
        docs.append(
            {
                "id": oid,
                "version": "1",
                "name": f"Offering {i}",
                "specification": f"spec-{i % 50}",
                "family": f"family-{i % 20}",
                "status": "active",
                "effective_from": "2026-01-01",
                "sku": f"SKU-{i:05d}",
                "sellable": i % 5 != 0,
                "prices": [{"id": f"{oid}-m", "kind": "recurring", "amount": "10.00"}]
                if i % 2
                else [],
                "option_groups": [
                    {
                        "id": "size",
                        "name": "Size",
                        "min": 0,
                        "max": 1,
                        "options": [f"off-{rng.randrange(0, offerings):05d}"],
                    }
                ],
                "relations": relations,
                "decomposition": [
                    {"task": "reserve", "system": "inventory", "operation": "reserve"},
                    {
                        "task": "activate",
                        "system": "provisioning",
                        "operation": "activate",
                        "depends_on": ["reserve"],
                    },
                ],
            }
        )
        entries.append(
            {
                "id": f"e-{i:05d}",
                "offering": oid,
                "kind": "recurring",
                "amount": "10.00",
                "period": "month",
            }
        )
    return {
        "id": "bench",
        "version": "1",
        "currency": "USD",
        "specifications": specs,
        "offerings": docs,
        "pricing": {
            "price_books": [
                {"id": "list-usd", "version": "1", "currency": "USD", "entries": entries}
            ]
        },
    }


def _time(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--offerings", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.offerings or (200 if args.quick else 5000)
    repeat = args.repeat or (1 if args.quick else 5)

    document = generate(n)
    relations = sum(len(o["relations"]) for o in document["offerings"])
    published = publish(document, source="generated")  # warm up, and prove it is valid

    baseline = _time(lambda: Catalog.model_validate(document), repeat)
    full = _time(lambda: publish(document, source="generated"), repeat)
    print(f"catalog: {n} offerings, {relations} relations ({published.fingerprint[:19]}...)")
    print(f"baseline (pydantic validation only): {baseline * 1000:8.1f} ms")
    print(f"publish  (every check + fingerprint): {full * 1000:8.1f} ms")
    print(f"ratio publish / baseline: {full / baseline:.2f}x  (median of {repeat})")
    if not args.quick:
        verdict = "within" if full <= TARGET_SECONDS else "OVER"
        print(f"target <= {TARGET_SECONDS:.1f} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

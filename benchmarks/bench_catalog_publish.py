"""Benchmark: publishing a large catalog with every check, and how it grows with size.

Generates catalogs of N offerings carrying 4 relations each (requires and contains
pointing to lower-numbered offerings so the hard graph is acyclic, plus excludes and
recommends), an option group, a decomposition, a SKU, an effective window, and a price
book entry for every offering. For each size, in a fresh process of its own (so one size's
heap never slows the other's garbage collection, and peak memory is that size's), it times:

* baseline — bare pydantic validation of the same document (``Catalog.model_validate``,
  no semantic checks);
* publish  — the core's :func:`cpqsim.catalog.publish`: validation, every semantic
  check, the pricing view and the content fingerprint, with the collector as it is;
* shell    — the same publication the way the shell does it
  (:func:`cpqsim_scenarios.files.publish_document`, the collector paused around it: the
  core never touches the collector, the shell that loads catalogs does).

Sizes alternate over a few rounds, each in its own process, and the growth target is
judged on the shell's CPU time (this process's own), which other work on a shared
machine does not inflate the way it inflates wall time; wall time is printed too, and
the core's own growth beside it.

Targets (issue 8, "catalog scale"): publishing grows linearly — 50,000 offerings /
200,000 relations in <= 10x the time of 5,000 / 20,000, measured in one run — under
1.5 GB peak RSS. A last measurement publishes a 50,000-offering catalog in which every
offering has a dangling reference: the problem list must be built quickly, in bounded
memory, each problem a small object. With ``--from-file``, each size is also written
to a JSON file and loaded as ``cpqsim`` loads it (:func:`cpqsim_scenarios.files.
load_catalog_file`: reading, with every value's line and column, then publishing).

    .venv/bin/python benchmarks/bench_catalog_publish.py               # 5,000 and 50,000
    .venv/bin/python benchmarks/bench_catalog_publish.py --from-file   # and from files
    .venv/bin/python benchmarks/bench_catalog_publish.py --quick       # smoke (200, 2,000)
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cpqsim.catalog import Catalog, CatalogInvalid, publish
from cpqsim_scenarios.documents import Document
from cpqsim_scenarios.files import load_catalog_file, publish_document

GROWTH_TARGET = 10.0
RSS_TARGET_MB = 1536


def generate(
    offerings: int, relations_per_offering: int = 4, seed: int = 7, *, dangling: bool = False
) -> dict[str, Any]:
    """A catalog document with ``offerings`` offerings and 4 relations each; valid, or
    (``dangling``) with one relation per offering naming an offering that does not exist."""
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
                target = rng.randrange(0, offerings - 1)
                target += target >= i  # never itself: excluding oneself is refused
            rel: dict[str, Any] = {"kind": kind, "target": f"off-{target:05d}"}
            if kind == "contains":
                rel.update(min=0, max=2)
            if dangling and r == 3:
                rel["target"] = f"gone-{i:05d}"
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


def _time(fn, repeat: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``fn``; each run starts from a heap with no garbage
    left by the previous one (collected outside the timing; the collector stays on while
    timed). CPU time is this process's own: other work on a shared machine adds to the
    wall time of a run, not to its CPU time."""
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_publish(n: int, repeat: int) -> dict[str, Any]:
    """Run in a child process: one size, its medians and its peak RSS."""
    document = generate(n)
    relations = sum(len(o["relations"]) for o in document["offerings"])
    # Warm up, and prove the document is valid; only its fingerprint is kept, so the
    # timed runs do not carry a second catalog in the heap.
    fingerprint = publish(document, source="generated").fingerprint
    baseline, baseline_cpu = _time(lambda: Catalog.model_validate(document), repeat)
    full, full_cpu = _time(lambda: publish(document, source="generated"), repeat)
    read = Document(path="generated", data=document)
    shell, shell_cpu = _time(lambda: publish_document(read), repeat)
    return {
        "offerings": n,
        "relations": relations,
        "fingerprint": fingerprint,
        "baseline_s": baseline,
        "publish_s": full,
        "shell_s": shell,
        "baseline_cpu_s": baseline_cpu,
        "publish_cpu_s": full_cpu,
        "shell_cpu_s": shell_cpu,
        "peak_mb": _peak_mb(),
    }


def measure_file(n: int) -> dict[str, Any]:
    """Run in a child process: write the catalog to a JSON file, then load it as the CLI
    does (read with every value's place, then publish)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"catalog-{n}.json"
        path.write_text(json.dumps(generate(n), separators=(",", ":")), encoding="utf-8")
        size_mb = path.stat().st_size / 2**20
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        load_catalog_file(path)
        return {
            "offerings": n,
            "file_mb": size_mb,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - start_cpu,
            "peak_mb": _peak_mb(),
        }


def _problem_bytes(problem: Any) -> int:
    parts = [problem, problem.__dict__, problem.message, problem.location, problem.code]
    parts += [problem.elements, *problem.elements]
    return sum(sys.getsizeof(p) for p in parts)


def measure_dangling(n: int) -> dict[str, Any]:
    """Run in a child process: publish a catalog with one dangling reference per offering."""
    document = generate(n, dangling=True)
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    try:
        publish(document, source="generated")
    except CatalogInvalid as exc:
        elapsed = time.perf_counter() - start
        elapsed_cpu = time.process_time() - start_cpu
        problems = exc.problems
    else:  # pragma: no cover - the document is built to be invalid
        raise AssertionError("a catalog with dangling references was published")
    sizes = [_problem_bytes(p) for p in problems]
    return {
        "offerings": n,
        "problems": len(problems),
        "dangling": sum(1 for p in problems if p.code == "dangling_reference"),
        "seconds": elapsed,
        "cpu_seconds": elapsed_cpu,
        "bytes_per_problem": statistics.mean(sizes),
        "peak_mb": _peak_mb(),
    }


def _child(what: str, n: int, repeat: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", what, "--offerings", str(n), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring {what} at {n} offerings failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (200, 2,000)")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--offerings", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--from-file", action="store_true", help="also load each size from a JSON file"
    )
    parser.add_argument("--child", choices=["publish", "dangling", "file"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child == "publish":
            result = measure_publish(args.offerings, args.repeat)
        elif args.child == "file":
            result = measure_file(args.offerings)
        else:
            result = measure_dangling(args.offerings)
        print(json.dumps(result))
        return 0

    small, large = (200, 2000) if args.quick else (5000, 50000)
    rounds = args.repeat or (1 if args.quick else 3)
    # Sizes alternate, a process each: load from other work on a shared machine then
    # falls on both sizes alike, and each figure is the median over the rounds.
    runs: dict[int, list[dict[str, Any]]] = {small: [], large: []}
    for _ in range(rounds):
        for n in (small, large):
            runs[n].append(_child("publish", n, 1))

    def median(n: int, field: str) -> float:
        return statistics.median(r[field] for r in runs[n])

    fields = ("baseline_s", "publish_s", "shell_s", "baseline_cpu_s", "publish_cpu_s")
    rows = [
        {
            "offerings": n,
            "relations": runs[n][0]["relations"],
            "fingerprint": runs[n][0]["fingerprint"],
            **{f: median(n, f) for f in fields},
            "shell_cpu_s": median(n, "shell_cpu_s"),
            "peak_mb": max(r["peak_mb"] for r in runs[n]),
        }
        for n in (small, large)
    ]
    print(f"catalog publication (median of {rounds} rounds; sizes alternate, a process each)")
    print(f"{'offerings':>10} {'relations':>10} {'baseline ms':>12} {'publish ms':>11} "
          f"{'publish/baseline':>17} {'peak RSS MB':>12} {'publish CPU ms':>15} "
          f"{'shell CPU ms':>13} {'shell ms':>9}")  # fmt: skip
    for r in rows:
        print(
            f"{r['offerings']:>10} {r['relations']:>10} {r['baseline_s'] * 1000:>12.1f} "
            f"{r['publish_s'] * 1000:>11.1f} {r['publish_s'] / r['baseline_s']:>16.2f}x "
            f"{r['peak_mb']:>12.0f} {r['publish_cpu_s'] * 1000:>15.1f} "
            f"{r['shell_cpu_s'] * 1000:>13.1f} {r['shell_s'] * 1000:>9.1f}"
        )
    print(f"catalog: {small} offerings, {rows[0]['relations']} relations "
          f"({rows[0]['fingerprint'][:19]}...)")  # fmt: skip
    print(f"ratio publish / baseline: {rows[0]['publish_s'] / rows[0]['baseline_s']:.2f}x")

    def growth(field: str) -> float:
        return rows[1][field] / rows[0][field]

    size_growth = large / small
    print(
        f"growth: publish {large:,} / {small:,} offerings = {growth('publish_s'):.2f}x wall, "
        f"{growth('publish_cpu_s'):.2f}x CPU for {size_growth:.0f}x the size (bare "
        f"validation grows {growth('baseline_cpu_s'):.2f}x CPU)"
    )
    print(
        f"growth in the shell (collector paused): {growth('shell_cpu_s'):.2f}x CPU, "
        f"{growth('shell_s'):.2f}x wall"
    )
    if not args.quick:
        shell_growth = growth("shell_cpu_s")
        verdict = "met" if shell_growth <= GROWTH_TARGET else "NOT met"
        print(f"target growth <= {GROWTH_TARGET:.0f}x (shell, CPU time): {verdict}")
        peak = rows[1]["peak_mb"]
        verdict = "met" if peak <= RSS_TARGET_MB else "NOT met"
        print(f"target peak RSS at {large:,} <= {RSS_TARGET_MB} MB: {peak:.0f} MB ({verdict})")
    if args.from_file:
        files = {n: _child("file", n, 1) for n in (small, large)}
        for n, f in files.items():
            print(
                f"from a file: {n:,} offerings ({f['file_mb']:.1f} MiB of JSON) read and "
                f"published in {f['cpu_seconds']:.1f} s CPU ({f['seconds']:.1f} s wall), "
                f"peak RSS {f['peak_mb']:.0f} MB"
            )
        file_growth = files[large]["cpu_seconds"] / files[small]["cpu_seconds"]
        print(f"growth from a file: {file_growth:.2f}x CPU for {size_growth:.0f}x the size")
    d = _child("dangling", large, 1)
    print(
        f"dangling references: {d['offerings']:,} offerings, {d['problems']:,} problems "
        f"({d['dangling']:,} dangling) listed in {d['seconds'] * 1000:.0f} ms "
        f"({d['cpu_seconds'] * 1000:.0f} ms CPU), "
        f"{d['bytes_per_problem']:.0f} bytes per problem, peak RSS {d['peak_mb']:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

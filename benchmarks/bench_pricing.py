"""Pricing benchmark: time per quote for 10 .. 10,000 lines, against a bare baseline.

Each quote is priced end to end (configuration check, price books, usage tiers, volume
discounts, promotions with conflicts, manual discount, full trace, input and output
fingerprints). The baseline, measured in the same run over the same lines, is the least
any pricer must do: a bare Decimal ``unit x quantity`` multiply-and-sum. The ratio says
what the rules, the trace and the fingerprints cost; the per-line column says whether the
cost grows linearly (roughly constant time per line); the growth figure is time per line
at the largest size over time per line at the next one (10,000 vs 1,000 in a full run).

Two quote shapes. The main one is a large enterprise quote as they come: 50 configurations
repeat over the lines (sites of a few kinds), and one line in five carries a usage estimate
of its own (different on every such line). The pricer prices each distinct line content
once, so the ``distinct`` column (lines actually priced, the rest share their price) says
how much of the quote was new work. The second shape is the worst case, every line
different (``all-distinct`` rows): nothing is shared.

A last block says where the time of one quote goes, measured in the same run: the
configuration check ``price_quote`` starts with, the input fingerprint, and the rest (rules,
trace, result rows, output fingerprint); and how many rows (charges + trace steps) the
result holds per line, since those rows are what a quote with a full trace must build. A
last line measures a floor: writing out the same result alone (each distinct line's rows as
models and canonical JSON, its hash, the hash of the line hashes), with no rule evaluated.
Any pricer that returns this trace with these fingerprints pays at least that.

Targets (issue 10), set on the reference machine where the bare baseline of 1,000 lines
took 0.17 ms: 1,000 distinct lines <= 35 ms median; 1,000 lines of the repeating shape
<= 10 ms; 10,000 lines linear (time per line at 10,000 <= 1.1x that at 1,000). Machines
differ (this one is shared and noisy), so each target is printed twice: as stated, and
scaled by how much slower this machine runs the same bare baseline in the same run. The
run also prints the time per distinct line beside the floor per distinct line, and which
rule steps the time of a distinct line goes to.

    .venv/bin/python benchmarks/bench_pricing.py           # full run
    .venv/bin/python benchmarks/bench_pricing.py --quick   # smoke run for the test suite
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import statistics
import sys
import time
from datetime import date
from decimal import Decimal

from cpqsim.approval import ApprovalPolicy
from cpqsim.catalog import Catalog, parse_catalog
from cpqsim.configuration import QuoteLine, check_configuration
from cpqsim.pricing import (
    PriceRequest,
    PriceResult,
    PricingPolicy,
    UsageEstimate,
    input_fingerprint,
    price_quote,
)
from cpqsim.pricing_canonical import Escapes, charge_json, line_json, step_json
from cpqsim.pricing_result import LineCharge, PricedLine, PriceStep, build, build_all

N_OFFERINGS = 50
D = Decimal


def build_catalog() -> Catalog:
    """50 offerings priced by a regional book, a usage book, tiers, volume discounts and
    promotions that stack, exclude and expire."""
    offerings = []
    entries = []
    usage_entries = []
    for k in range(N_OFFERINGS):
        oid = f"p{k:03d}"
        offerings.append(
            {
                "id": oid,
                "name": f"Product {k}",
                "specification": "s",
                "family": f"family-{k % 5}",
                "quantity_max": 100000,
                "prices": [{"id": f"{oid}-cat", "kind": "recurring", "amount": "1.00"}],
            }
        )
        entries.append(
            {
                "id": f"{oid}-m",
                "offering": oid,
                "kind": "recurring",
                "period": "month",
                "amount": f"{10 + k}.{k % 100:02d}",
            }
        )
        if k % 3 == 0:
            entries.append(
                {"id": f"{oid}-s", "offering": oid, "kind": "one_time", "amount": f"{k + 5}.50"}
            )
        if k % 5 == 0:
            usage_entries.append(
                {
                    "id": f"{oid}-u",
                    "offering": oid,
                    "kind": "usage",
                    "usage_unit": "call",
                    "tier_mode": "graduated" if k % 10 else "volume",
                    "tiers": [
                        {"up_to": 1000, "unit_amount": "0.010"},
                        {"up_to": 10000, "unit_amount": "0.005"},
                        {"unit_amount": "0.001"},
                    ],
                }
            )
    ids = [o["id"] for o in offerings]
    pricing = {
        "version": "bench-rules-1",
        "price_books": [
            {"id": "usd", "version": "1", "currency": "USD", "entries": entries},
            {
                "id": "usd-us",
                "version": "1",
                "currency": "USD",
                "region": "US",
                "priority": 1,
                "entries": usage_entries,
            },
        ],
        "volume_discounts": [
            {"id": f"vd-{o}", "offering": o, "min_quantity": 20, "pct": "0.05"} for o in ids[::2]
        ],
        "promotions": [
            {
                "id": "spring",
                "applies_to": ids[:25],
                "pct_off": "0.10",
                "stacking_group": "season",
                "priority": 5,
            },
            {
                "id": "spring-small",
                "applies_to": ids[:25],
                "pct_off": "0.03",
                "stacking_group": "season",
            },
            {"id": "partner", "applies_to": ids[10:40], "amount_off": "0.25", "priority": 2},
            {
                "id": "expired",
                "applies_to": ids[::7],
                "pct_off": "0.5",
                "effective_to": "2026-01-01",
            },
            {
                "id": "launch",
                "applies_to": ids[40:],
                "pct_off": "0.2",
                "exclusive": True,
                "eligibility": {"min_quantity": 30},
            },
        ],
    }
    return parse_catalog(
        {
            "id": "bench",
            "version": "1",
            "currency": "USD",
            "specifications": [{"id": "s", "name": "S"}],
            "offerings": offerings,
            "pricing": pricing,
        }
    )


def build_request(n: int, *, all_distinct: bool = False) -> PriceRequest:
    """``n`` lines over the 50 offerings: 50 configurations repeating, or (``all_distinct``)
    every line a quantity of its own. Usage estimates differ on every line that has one."""
    lines = [
        QuoteLine(
            offering=f"p{i % N_OFFERINGS:03d}",
            quantity=1 + i if all_distinct else 1 + (i * 7) % 50,
        )
        for i in range(n)
    ]
    usage = [
        UsageEstimate(line=i, price_entry=f"p{i % N_OFFERINGS:03d}-u", units=D(500 + i * 37))
        for i in range(n)
        if (i % N_OFFERINGS) % 5 == 0
    ]
    return PriceRequest(
        lines=lines,
        discount_pct=D("0.02"),
        region="US",
        business_date=date(2026, 3, 1),
        usage=usage,
    )


def baseline(catalog: Catalog, request: PriceRequest) -> Decimal:
    """The bare minimum over the same lines: unit amount x quantity, summed."""
    book = catalog.pricing.price_books[0]
    unit = {e.offering: e.amount for e in book.entries if e.kind == "recurring"}
    total = Decimal(0)
    for line in request.lines:
        total += unit[line.offering] * line.quantity
    return total


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(sizes: list[int], repeats: int, *, all_distinct: bool = False) -> list[dict]:
    catalog = build_catalog()
    rows = []
    for n in sizes:
        request = build_request(n, all_distinct=all_distinct)
        result = price_quote(catalog, request)  # warm-up, and a sanity check
        assert result.fingerprint == price_quote(catalog, request).fingerprint
        pricing = median_seconds(lambda r=request: price_quote(catalog, r), repeats)
        base = median_seconds(lambda r=request: baseline(catalog, r), max(repeats, 5))
        rows.append(
            {
                "lines": n,
                "charges": len(result.charges),
                "trace": len(result.trace),
                "distinct": len({id(line) for line in result.lines}),
                "median_ms": pricing * 1000,
                "baseline_ms": base * 1000,
                "ratio": pricing / base if base else float("inf"),
                "us_per_line": pricing / n * 1e6,
            }
        )
    return rows


def breakdown(n: int, repeats: int) -> dict[str, float]:
    """Median ms of the parts of pricing one ``n``-line quote (same catalog and lines)."""
    catalog = build_catalog()
    request = build_request(n)
    policy, approval = PricingPolicy(), ApprovalPolicy()
    total = median_seconds(lambda: price_quote(catalog, request), repeats)
    result = price_quote(catalog, request)
    floor = median_seconds(lambda: write_result(result), repeats)
    config = median_seconds(lambda: check_configuration(catalog, request.lines), repeats)
    inputs = median_seconds(
        lambda: input_fingerprint(catalog, request, policy, approval), max(repeats, 5)
    )
    return {
        "total": total * 1000,
        "configuration check": config * 1000,
        "input fingerprint": inputs * 1000,
        "rules, trace, result rows, output fingerprint": max(total - config - inputs, 0) * 1000,
        "floor": floor * 1000,
    }


def write_result(result: PriceResult) -> str:
    """Write out ``result`` again with no rule evaluated: for each distinct line, its rows
    as models and as canonical JSON, its hash and its ``PricedLine``; then the hash of the
    line hashes. Checks that every line hash comes out the same (the same work was done)."""
    esc = Escapes()
    digests: dict[int, str] = {}
    for line in result.lines:
        if id(line) in digests:
            continue
        steps = [dict(s.__dict__) for s in line.trace]
        charges = [dict(c.__dict__) for c in line.charges]
        text = line_json(
            [charge_json(c, esc) for c in charges],
            [step_json(s, esc) for s in steps],
            line.list_amount,
            line.discount_amount,
            line.net_amount,
        )
        fingerprint = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert fingerprint == line.fingerprint
        values = {
            "charges": build_all(LineCharge, charges),
            "trace": build_all(PriceStep, steps),
            "list_amount": line.list_amount,
            "discount_amount": line.discount_amount,
            "net_amount": line.net_amount,
            "fingerprint": fingerprint,
        }
        build(PricedLine, values)
        digests[id(line)] = f'"{fingerprint}"'
    lines = "[" + ",".join([digests[id(line)] for line in result.lines]) + "]"
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


REFERENCE_BASELINE_MS = 0.17  # bare baseline, 1,000 lines, on the machine targets were set
TARGETS_MS = {"repeating": 10.0, "distinct": 35.0}
LINEAR_TARGET = 1.1


def per_distinct_line(n: int, repeats: int, *, all_distinct: bool) -> dict[str, float]:
    """Pricing time and the floor, each per distinct line priced (µs)."""
    catalog = build_catalog()
    request = build_request(n, all_distinct=all_distinct)
    result = price_quote(catalog, request)
    distinct = len({id(line) for line in result.lines})
    total = median_seconds(lambda: price_quote(catalog, request), repeats)
    floor = median_seconds(lambda: write_result(result), repeats)
    return {"distinct": distinct, "us": total / distinct * 1e6, "floor_us": floor / distinct * 1e6}


def with_collector_paused(n: int, repeats: int, *, all_distinct: bool) -> tuple[float, float]:
    """Median ms of pricing ``n`` lines as is, and with the cyclic garbage collector paused
    around the call by the caller (what a shell may choose to do; the core never does)."""
    import gc

    catalog = build_catalog()
    request = build_request(n, all_distinct=all_distinct)
    price_quote(catalog, request)
    as_is = median_seconds(lambda: price_quote(catalog, request), repeats)

    def paused() -> None:
        was = gc.isenabled()
        gc.disable()
        try:
            price_quote(catalog, request)
        finally:
            if was:
                gc.enable()

    return as_is * 1000, median_seconds(paused, repeats) * 1000


def rule_step_times(n: int) -> tuple[float, list[tuple[str, float]]]:
    """Where the time of pricing ``n`` distinct lines goes: each rule step's own time
    (ms, summed over every charge), measured by wrapping the steps for one extra run."""
    import cpqsim.pricing_run as run_module
    from cpqsim.pricing_charge import RuleStep

    catalog = build_catalog()
    request = build_request(n, all_distinct=True)
    spent: dict[str, float] = {}

    def timed(step: RuleStep) -> RuleStep:
        prepare = step.prepare

        def prepared(facts, ctx, sites):
            apply = prepare(facts, ctx, sites)
            if apply is None:
                return None

            def wrapped(charge, quantity, units):
                start = time.perf_counter()
                try:
                    return apply(charge, quantity, units)
                finally:
                    spent[step.name] = spent.get(step.name, 0.0) + time.perf_counter() - start

            return wrapped

        return dataclasses.replace(step, prepare=prepared)

    original = run_module.RULE_STEPS
    run_module.RULE_STEPS = tuple(timed(step) for step in original)
    try:
        price_quote(catalog, request)  # warm
        spent.clear()
        start = time.perf_counter()
        price_quote(catalog, request)
        total = time.perf_counter() - start
    finally:
        run_module.RULE_STEPS = original
    return total * 1000, [
        (name, spent.get(name, 0.0) * 1000) for name in (s.name for s in original)
    ]


def _row(r: dict) -> str:
    return (
        f"{r['lines']:>7} {r['charges']:>8} {r['trace']:>7} {r['distinct']:>9} "
        f"{r['median_ms']:>10.2f} {r['baseline_ms']:>12.3f} {r['ratio']:>7.0f}x "
        f"{r['us_per_line']:>8.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args(argv)
    sizes = [10, 100, 300] if args.quick else [10, 100, 1000, 10000]
    repeats = 3 if args.quick else 7
    rows = run(sizes, repeats)
    print(f"pricing benchmark ({'quick' if args.quick else 'full'}; median of {repeats} runs)")
    print("configurations repeat, 1 line in 5 has its own usage estimate:")
    print(
        f"{'lines':>7} {'charges':>8} {'trace':>7} {'distinct':>9} {'median ms':>10} "
        f"{'baseline ms':>12} {'ratio':>8} {'us/line':>8}"
    )
    for r in rows:
        print(_row(r))
    print("worst case, every line distinct:")
    worst = run([100] if args.quick else [100, 1000], repeats, all_distinct=True)
    for r in worst:
        print(_row(r) + "  (all-distinct)")
    per_line = [r["us_per_line"] for r in rows if r["lines"] >= 100]
    if len(per_line) >= 2:
        growth = per_line[-1] / per_line[0]
        verdict = (
            "SUPERLINEAR"
            if growth > 2.0
            else "linear or better (more lines share their price)"
            if growth < 1.0
            else "linear"
        )
        print(f"growth: time per line, largest vs 100 lines: {growth:.2f}x ({verdict})")
        big, prev = rows[-1], rows[-2]
        print(
            f"growth: time per line at {big['lines']:,} vs {prev['lines']:,} lines: "
            f"{big['us_per_line'] / prev['us_per_line']:.2f}x (1.00x = linear)"
        )
    by_size = {r["lines"]: r for r in rows}
    base_catalog, base_request = build_catalog(), build_request(1000)
    base_1000 = median_seconds(lambda: baseline(base_catalog, base_request), 101)
    speed = base_1000 * 1000 / REFERENCE_BASELINE_MS
    print(
        f"machine: the bare baseline of 1,000 lines takes {base_1000 * 1000:.3f} ms here "
        f"({REFERENCE_BASELINE_MS} ms where the targets were set): targets x {speed:.2f} "
        "below"
    )
    worst_rows = {r["lines"]: r for r in worst}
    for shape, table in (("repeating", by_size), ("distinct", worst_rows)):
        if 1000 not in table:
            continue
        ms = table[1000]["median_ms"]
        target = TARGETS_MS[shape]
        scaled = target * speed
        print(
            f"target 1,000 {shape} lines <= {target:.0f} ms: {ms:.2f} ms "
            f"({'met' if ms <= target else 'NOT met'} as stated; "
            f"{'met' if ms <= scaled else 'NOT met'} against {scaled:.1f} ms scaled)"
        )
    if 1000 in by_size and 10000 in by_size:
        linear = by_size[10000]["us_per_line"] / by_size[1000]["us_per_line"]
        verdict = "met" if linear <= LINEAR_TARGET else "NOT met"
        print(
            f"target 10,000 lines linear (per-line <= {LINEAR_TARGET}x 1,000): "
            f"{linear:.2f}x ({verdict})"
        )
    n = 1000 if 1000 in by_size else max(r["lines"] for r in rows if r["lines"] <= 1000)
    parts = breakdown(n, repeats)
    rows_per_line = (by_size[n]["charges"] + by_size[n]["trace"]) / n
    print(
        f"where time goes at {n:,} lines ({parts['total']:.2f} ms; "
        f"{rows_per_line:.1f} result rows per line):"
    )
    for name, ms in parts.items():
        if name not in ("total", "floor"):
            print(f"  {name:<48} {ms:8.2f} ms {ms / parts['total']:6.0%}")
    floor = parts["floor"]
    print(
        f"floor: writing out the same result alone (rows, JSON, hashes; no rules) "
        f"{floor:.2f} ms, {floor / parts['total']:.0%} of the quote"
    )
    for shape, distinct in (("repeating", False), ("all-distinct", True)):
        d = per_distinct_line(n, repeats, all_distinct=distinct)
        print(
            f"per distinct line ({shape}, {n:,} lines, {d['distinct']:,} distinct): "
            f"{d['us']:.1f} us priced, floor {d['floor_us']:.1f} us "
            f"({d['us'] / d['floor_us']:.1f}x the floor)"
        )
    for size, distinct in ((n, True), (max(r["lines"] for r in rows), False)):
        as_is, paused = with_collector_paused(size, repeats, all_distinct=distinct)
        shape = "all-distinct" if distinct else "repeating"
        print(
            f"garbage collector ({size:,} lines, {shape}): {as_is:.2f} ms as is, "
            f"{paused:.2f} ms paused by the caller ({as_is / paused:.2f}x)"
        )
    total, steps = rule_step_times(n)
    print(f"rule steps' own time, {n:,} distinct lines ({total:.1f} ms in all):")
    for name, ms in steps:
        print(f"  {name:<24} {ms:7.2f} ms {ms / total:6.1%}")
    rest = total - sum(ms for _, ms in steps)
    print(f"  {'everything else':<24} {rest:7.2f} ms {rest / total:6.1%} "
          "(configuration check, plan lookups, writing rows, JSON, hashes, totals)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

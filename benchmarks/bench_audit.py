"""Benchmark: appending and verifying a hash-chained audit log of 100,000 entries.

Measured in one run, as medians of a few rounds (the machine is shared: ratios, not
seconds, are the figure):

* append   — :class:`cpqsim.audit.AuditChain.append` for every entry: the canonical JSON
  of its content (position and previous hash included), its sha256, the stored line;
* verify   — :func:`cpqsim.audit.walk_chain` over the stored lines (as bytes, the way a
  file is read): every hash recomputed and every link checked;
* baseline — plain ``hashlib.sha256`` of each stored line's bytes, once: the least any
  tamper-evident log must spend.

Target (issue 14, "Performance"): append + verify <= 3x the baseline. Appending and
verifying each hash every entry once, so 2x is the floor; the ratio per hash pass is
printed beside it.

    .venv/bin/python benchmarks/bench_audit.py            # 100,000 entries
    .venv/bin/python benchmarks/bench_audit.py --quick    # smoke (2,000 entries)
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time

from cpqsim.audit import AuditChain, ChainSummary, walk_chain

TARGET_RATIO = 3.0
ACTIONS = (
    ("quote.approved", "sales_manager", "within discount authority"),
    ("quote.accepted", "seller", "accepted snapshot sha256:9f86d081884c7d659a2feaa0c55ad015"),
    ("quote.converted_to_order", "seller", "order ord-000123 (key k-Q000123)"),
    ("order.fallout_resolved", "operations", "retry on case case-000045: provisioning back"),
)


def entries(n: int) -> list[dict[str, str]]:
    """``n`` realistic entry contents (deterministic)."""
    made = []
    for i in range(n):
        action, role, reason = ACTIONS[i % len(ACTIONS)]
        made.append(
            {
                "time": f"2026-01-05T{8 + i // 360000 % 10:02d}:{i // 6000 % 60:02d}:"
                f"{i // 100 % 60:02d}.{i % 1000:03d}Z",
                "actor": f"user-{i % 97:02d}",
                "authority": role,
                "action": action,
                "subject": f"quote/Q{i:06d}",
                "reason": reason,
                "fact_id": f"evt-{i:07d}",
                "fact_digest": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
            }
        )
    return made


def one_round(contents: list[dict[str, str]]) -> tuple[float, float, float]:
    started = time.perf_counter()
    chain = AuditChain()
    append = chain.append
    lines = [append(**c) for c in contents]
    append_s = time.perf_counter() - started

    stored = [line.encode("utf-8") + b"\n" for line in lines]  # what the file holds
    started = time.perf_counter()
    outcome = walk_chain(stored)
    verify_s = time.perf_counter() - started
    assert isinstance(outcome, ChainSummary) and outcome.entries == len(contents)
    assert outcome.head == chain.head

    sha256 = hashlib.sha256
    started = time.perf_counter()
    for line in stored:
        sha256(line).hexdigest()
    baseline_s = time.perf_counter() - started
    return append_s, verify_s, baseline_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 entries")
    args = parser.parse_args()
    n, rounds = (2_000, 3) if args.quick else (args.entries, args.rounds)

    contents = entries(n)
    results = [one_round(contents) for _ in range(rounds)]
    append_s, verify_s, baseline_s = (statistics.median(r[i] for r in results) for i in range(3))
    total = append_s + verify_s
    print(f"audit chain: {n:,} entries, {rounds} rounds (medians)")
    print(f"  baseline sha256 of each line   {baseline_s * 1e3:9.1f} ms")
    print(
        f"  append                         {append_s * 1e3:9.1f} ms  {append_s / baseline_s:5.2f}x"
    )
    print(
        f"  verify                         {verify_s * 1e3:9.1f} ms  {verify_s / baseline_s:5.2f}x"
    )
    ratio = total / baseline_s
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(
        f"ratio (append + verify) / baseline: {ratio:.2f}x ({verdict} target <= {TARGET_RATIO:g}x)"
    )
    # Appending hashes every entry once and verifying hashes it again: two passes are
    # the floor of any chain that is both written and checked.
    print(
        f"ratio per hash pass (append + verify) / (2 x baseline): {total / (2 * baseline_s):.2f}x"
    )
    print(
        f"  per entry: append {append_s / n * 1e6:.2f} us, verify {verify_s / n * 1e6:.2f} us, "
        f"sha256 {baseline_s / n * 1e6:.2f} us"
    )


if __name__ == "__main__":
    main()

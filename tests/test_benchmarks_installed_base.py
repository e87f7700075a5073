"""The installed-base benchmark runs and prints each question's median beside a dict
lookup measured in the same run (no timing assertions: machines are noisy)."""

from __future__ import annotations

import re


def test_installed_base_benchmark_quick_run_answers_both_questions_beside_a_dict(
    quick_benchmark,
):
    # Given the benchmark's smoke run (5,000 generated assets in a process of its own)
    stdout = quick_benchmark("bench_installed_base.py")
    # Then it reports the size it loaded and how long the load took
    size = re.search(r"installed base: ([\d,]+) main assets, ([\d,]+) assets in all", stdout)
    assert size is not None, stdout
    mains, total = (int(g.replace(",", "")) for g in size.groups())
    assert mains == 5000 and total > mains  # add-ons and bundle components on top
    assert re.search(r"loaded into the read model in [\d.]+ s", stdout), stdout
    # And one row per question: a median, the dict's median, their ratio and a verdict
    for question in ("assets of account X", "is this change allowed"):
        row = next(line for line in stdout.splitlines() if line.startswith(question))
        median, dict_ms, ratio = (float(x) for x in row[len(question) :].split()[:3])
        assert median > 0 and dict_ms > 0 and ratio > 1, row
        assert row.rstrip().endswith(("met", "NOT met")), row
    # And the change lines were really judged: some pass, some are refused with reasons
    judged = re.search(r"\(([\d,]+) change lines over every action, ([\d,]+) of them", stdout)
    assert judged is not None, stdout
    lines, refused = (int(g.replace(",", "")) for g in judged.groups())
    assert 0 < refused < lines
    # And the sim part: a short renewal season beside a short happy path, both judged,
    # the renewal season fulfilling change orders, and the ratio of their rates
    rows = {line.split()[0]: line.split() for line in stdout.splitlines() if line}
    for name in ("happy_path", "renewal_season"):
        assert rows[name][-1] == "pass", rows[name]
        assert int(rows[name][2].replace(",", "")) > 0  # completed orders
    assert int(rows["renewal_season"][3].replace(",", "")) > 0  # change orders fulfilled
    ratio = re.search(r"ratio renewal season / happy path orders per CPU-second: ([\d.]+)x", stdout)
    assert ratio is not None and float(ratio.group(1)) > 0, stdout

"""``cpqsim price``: a request file in, a priced result with its trace out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REQUEST = REPO / "scenarios" / "library" / "requests" / "saas_and_internet.yaml"
CPQSIM = [sys.executable, "-m", "cpqsim_scenarios"]


def test_price_prints_machine_readable_json_with_trace_and_fingerprint():
    proc = subprocess.run(
        [*CPQSIM, "price", str(REQUEST), "--json"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["fingerprint"].startswith("sha256:")
    assert any(line["trace"] for line in result["lines"])
    assert result["approval_triggers"]  # 12 % is above the 10 % policy
    assert result["currency"] == "USD"


def test_price_refuses_a_bad_request_naming_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"catalog: {REQUEST.parent.parent / 'catalog' / 'enterprise.yaml'}\n"
        "request:\n  lines: [{offering: saas-suite, quantity: zero}]\n"
    )
    proc = subprocess.run([*CPQSIM, "price", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "bad.yaml" in proc.stderr and "request.lines[0].quantity" in proc.stderr

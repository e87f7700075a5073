"""The HTML report, opened in a real browser (headless Chromium from the OS packages).

It must show the verdict first and load every plot. Where Chromium is not installed the
test is skipped, except under CI, which installs it (``.ci/run``) and must run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a root, offline machine: no sandbox, no background calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "run"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cpqsim_scenarios",
            "run",
            str(LIBRARY / "cancellation_in_flight_naive.yaml"),
            "--out",
            str(out),
            "--quiet",
        ],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    return out / "report.html"


@pytest.mark.slow
def test_the_report_shows_the_verdict_first_and_every_plot_loads(report, tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "CI must have Chromium: .ci/run installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(report.as_uri())
            verdict = page.locator("#verdict")
            assert verdict.inner_text().startswith("FAIL")
            assert "cancelled_orders_leave_no_live_side_effects" in verdict.inner_text()
            # the verdict is the first thing on the page, above the fold
            assert verdict.bounding_box()["y"] < 200
            images = page.eval_on_selector_all(
                "figure img", "imgs => imgs.map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            assert {alt for alt, *_ in images} >= {"orders_by_state.png", "fallout_queue.png"}
            assert all(done and width > 100 for _, done, width in images), images
            # violations placed on the downstream systems they concern
            assert page.locator("#breakdown").count() == 1
            assert page.locator("#timeline").count() == 1  # the broken order's evidence
            rows = page.locator("#timeline + p + table tr").all_inner_texts()
            assert any("provisioning" in r for r in rows) and any("platform" in r for r in rows)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
            assert (tmp_path / "report.png").stat().st_size > 10_000
        finally:
            browser.close()

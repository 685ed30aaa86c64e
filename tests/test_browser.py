"""The web page in a real headless Chromium: a user opens the URL with the token, types a data path and a
task, starts a run, watches it finish and sees the predictions table and the report with its plots."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_classification_frame, split_write
from live_server import live_app

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (Debian: apt-get install chromium); the browser test needs it",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                               "(pip install -e '.[dev]')")

TOKEN = "browser-token-456"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def test_start_a_run_in_the_page_and_see_the_results(tmp_path):
    data_root = tmp_path / "data"
    data = split_write(make_classification_frame(), data_root / "churn", "label")
    with live_app(tmp_path / "runs", [data_root], TOKEN) as base, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/?token={TOKEN}")
            assert "token=" not in page.url  # taken out of the address bar once read
            page.fill("#data-path", str(data))
            page.fill("#task", "predict label as the probability of yes; write churn.csv with customer_id,label")
            page.fill("#time-limit", "30")
            assert page.locator("#llm").input_value() == "none"
            page.click("#start")

            status = page.locator("#run-status")
            sync_api.expect(status).to_have_text("succeeded", timeout=120_000)
            sync_api.expect(page.locator("#attempts tbody tr").first).to_contain_text("succeeded")
            sync_api.expect(page.locator("#events li").last).to_contain_text("done")

            rows = page.locator("#predictions tbody tr")
            sync_api.expect(rows).to_have_count(50, timeout=20_000)  # the preview: 50 of 60 rows
            assert page.locator("#predictions thead th").all_inner_texts() == ["customer_id", "label"]
            sync_api.expect(page.locator("#pred-info")).to_contain_text("50 of 60")
            assert "download" in page.locator("#download").get_attribute("href")

            report = page.frame_locator("#report-frame")
            plot = report.locator("img[src^='data:image/png']").first
            sync_api.expect(plot).to_be_visible(timeout=20_000)
            assert page.locator("#code").text_content().strip()
            sync_api.expect(page.locator("#runs tbody tr")).to_have_count(1)
            page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)  # for a person to look at
            assert not console_errors, console_errors
        finally:
            browser.close()
    assert (tmp_path / "ui.png").stat().st_size > 10_000

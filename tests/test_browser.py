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


def test_a_runs_url_drag_and_drop_download_cancel_and_a_cli_resume_all_agree(tmp_path):
    """A user's day in the page (screenshots of each step under tmp_path/shots): the allowed folders are listed;
    files dropped on the drop zone start a light run; the run's own URL opens in a new tab and, with the token,
    in a fresh browser; the predictions download; a full run cancelled in the page reads 'cancelled' in the page,
    in `mlwright show` and in run.json alike; resumed from the CLI, the page shows it succeeded."""
    import json

    from conftest import run_cli
    from mlwright.planning.planner import autogluon_available

    data_root = tmp_path / "data"
    data = split_write(make_classification_frame(), data_root / "churn", "label")
    shots = tmp_path / "shots"
    shots.mkdir()
    runs = tmp_path / "runs"
    with live_app(runs, [data_root], TOKEN, extra_run_args=()) as base, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page = ctx.new_page()
            page.goto(f"{base}/?token={TOKEN}")
            sync_api.expect(page.locator("#allowed")).to_contain_text(str(data_root))
            page.check("input[name=source][value=upload]")
            # a drop of two files on the drop zone (the browser's own DataTransfer, as a user's drag makes)
            page.evaluate("""([train, test]) => {
                const dt = new DataTransfer();
                dt.items.add(new File([train], 'train.csv', {type: 'text/csv'}));
                dt.items.add(new File([test], 'test.csv', {type: 'text/csv'}));
                document.querySelector('#drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
            }""", [(data / "train.csv").read_text(), (data / "test.csv").read_text()])
            sync_api.expect(page.locator("#drop-text")).to_contain_text("2 files chosen")
            # the preview: the dropped files are uploaded at once and read as a run would read them
            preview = page.locator("#preview-body")
            sync_api.expect(preview).to_contain_text("training rows", timeout=30_000)
            sync_api.expect(preview).to_contain_text("no task typed yet")
            page.fill("#task", "predict label as the probability of yes")
            sync_api.expect(preview).to_contain_text('target "label"', timeout=30_000)
            sync_api.expect(page.locator("#preview-body table").last).to_contain_text("x1")
            page.fill("#time-limit", "30")
            page.check("#light")
            assert page.locator("#model").is_disabled()  # no LLM chosen: no model to name
            assert page.locator("#llm option[value=openai]").count() == 1
            page.screenshot(path=str(shots / "1-new-run.png"), full_page=True)
            streams: list[str] = []
            page.on("request", lambda req: streams.append(req.url) if "/stream" in req.url else None)
            page.click("#start")
            sync_api.expect(page.locator("#run-status")).to_have_text("running", timeout=60_000)
            page.screenshot(path=str(shots / "2-running.png"), full_page=True)
            sync_api.expect(page.locator("#run-status")).to_have_text("succeeded", timeout=120_000)
            assert streams, "the page follows a run through its event stream"
            sync_api.expect(page.locator("#chart")).to_be_visible()
            sync_api.expect(page.locator("#clock-text")).to_contain_text("of the 30 s budget")
            run_id = page.locator("#run-title").inner_text()
            assert page.url.endswith(f"#run={run_id}")
            sync_api.expect(page.locator("#attempts tbody")).to_contain_text("draft")  # the attempt tree's steps
            frame = page.locator("#report-frame")
            sync_api.expect(page.frame_locator("#report-frame").locator("img").first).to_be_visible(timeout=20_000)
            for _ in range(100):  # the report's frame grows to its content's height: no scrollbar of its own
                if frame.bounding_box()["height"] > 900:
                    break
                page.wait_for_timeout(200)
            assert frame.bounding_box()["height"] > 900
            page.screenshot(path=str(shots / "3-succeeded.png"), full_page=True)
            assert frame.get_attribute("sandbox") == "allow-same-origin"  # no scripts in the report
            with page.expect_download() as dl:
                page.click("#download")
            saved = tmp_path / "downloaded.csv"
            dl.value.save_as(saved)
            assert len(saved.read_text().splitlines()) == 61  # a header and the 60 test rows
            # the run's own URL: a new tab of this browser, and a fresh browser given the token
            tab = ctx.new_page()
            tab.goto(f"{base}/#run={run_id}")
            sync_api.expect(tab.locator("#run-status")).to_have_text("succeeded", timeout=20_000)
            fresh = browser.new_context().new_page()
            fresh.goto(f"{base}/?token={TOKEN}#run={run_id}")
            sync_api.expect(fresh.locator("#run-title")).to_have_text(run_id, timeout=20_000)
            assert "token=" not in fresh.url
            if autogluon_available():  # a second, full run with an attempt long enough to cancel
                page.check("input[name=source][value=path]")
                page.fill("#data-path", str(data))
                page.fill("#time-limit", "120")
                page.uncheck("#light")
                page.click("#start")
                sync_api.expect(page.locator("#attempts tbody")).to_contain_text("autogluon_tabular", timeout=60_000)
                page.click("#detail details:has(#logs) > summary")
                # AutoGluon's chatter arrives folded, its summary says from where
                sync_api.expect(page.locator("#logs details.fold summary").first).to_contain_text(
                    "lines of library output", timeout=60_000)
                page.click("#cancel")
                sync_api.expect(page.locator("#run-status")).to_have_text("cancelled", timeout=60_000)
                second = page.locator("#run-title").inner_text()
                sync_api.expect(page.locator("#attempts tbody")).not_to_contain_text("running", timeout=20_000)
                page.screenshot(path=str(shots / "4-cancelled.png"), full_page=True)
                assert json.loads((runs / second / "run.json").read_text())["status"] == "cancelled"
                assert "cancelled" in run_cli("show", str(runs / second)).stdout
                r = run_cli("resume", str(runs / second), "--no-autogluon")
                assert r.returncode == 0, r.stderr
                sync_api.expect(page.locator("#run-status")).to_have_text("succeeded", timeout=30_000)
                page.screenshot(path=str(shots / "5-resumed.png"), full_page=True)
        finally:
            browser.close()
    assert all(p.stat().st_size > 10_000 for p in shots.glob("*.png"))

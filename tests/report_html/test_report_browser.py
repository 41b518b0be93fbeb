"""The report of a whole run in a real browser (Debian's chromium driven by Selenium), as a person sees it:
the headings, every object with its counts, the charts drawn, the owner queue, the links to the CSVs; no
script run and nothing fetched. Saves ``out/report-page.png``.

The run: the sample WORKetc export migrated in-process into the Dataverse emulator with its service
protection limits on (time-scaled), in small batches, so the throughput chart has a course and 429s.
``make test`` installs chromium and chromium-driver (the Makefile's ``tools`` target); the test skips,
saying so, only where they could not be installed."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import make_env, migrate, run_config, sample_export, unregister  # noqa: F401

from .conftest import ROOT

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: make venv installs it")
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed and could not be: `make tools` installs them "
           "(apt-get install -y chromium chromium-driver)")]  # slow: a whole migration first (about 20 s)


@pytest.fixture(scope="module")
def run_report(sample_export, tmp_path_factory) -> Path:  # noqa: F811 - the integration tests' export
    """A whole migration's report folder (report.html and the files it links to, side by side)."""
    staging = tmp_path_factory.mktemp("report-run")

    async def go():
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DATAVERSE_BATCH_SIZE", "20")
            await make_env(mp, sample_export, profile="realistic", time_scale=0.0005)
            try:
                run = run_config(sample_export, str(staging / "staging"), run_id="report-run", chunk_size=60)
                result = await migrate(run)
            finally:
                unregister()
        assert result["status"] == "completed"
        return staging / "staging" / run.prefix / "report"

    return asyncio.run(go())


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_a_person_reads_the_run_report(browser, run_report):
    report = json.loads((run_report / "report.json").read_text())
    browser.get((run_report / "report.html").as_uri())
    assert browser.title == "Migration report · run report-run"
    assert browser.find_element(By.ID, "run-status").text == "COMPLETED"  # uppercase by CSS, as seen

    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "main h2")]
    assert headings[:8] == ["Summary", "Objects", "Rejects and warnings by reason", "Throughput and throttling",
                            "Owner queue", "Lossy conversions", "The approved map", "Workflow inventory"]
    cards = [c.text.split("\n")[0] for c in browser.find_elements(By.CSS_SELECTOR, ".card .n")]
    t = report["totals"]
    assert cards[:5] == [f"{t[k]:,}" for k in ("source", "loaded", "rejected", "queued", "warnings")]
    assert "Every source record is accounted for" in browser.find_element(By.ID, "balance").text

    # every object, with the counts of report.json, as the table shows them
    for o in report["objects"]:
        row = browser.find_element(By.CSS_SELECTOR, f"#objects-table tr[data-object='{o['object']}']")
        cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
        assert cells[0] == o["object"] and cells[2:4] == [f"{o['source']:,}", f"{o['loaded']:,}"], cells
        assert cells[-1] == o["status"]

    # the charts are drawn (inline SVG with their text), not images fetched from somewhere
    for chart in ("chart-objects", "chart-reasons", "chart-throughput"):
        svg = browser.find_element(By.CSS_SELECTOR, f"#{chart} svg")
        assert svg.size["width"] > 600 and svg.size["height"] > 100, chart
    objects_chart = browser.find_element(By.CSS_SELECTOR, "#chart-objects svg").get_attribute("textContent")
    assert all(o["object"] in objects_chart for o in report["objects"] if o["status"] == "reconciled")
    throughput = browser.find_element(By.ID, "load").text
    assert "records/s while loading" in throughput and "answers 429" in throughput

    # the owner queue names whom to provision; the CSVs are a click away
    queue = browser.find_elements(By.CSS_SELECTOR, "#owner-queue tbody tr")
    assert len(queue) == report["owner_queue"] > 0 and "@" in queue[0].text
    hrefs = {a.get_attribute("href").rsplit("/", 1)[-1] for a in browser.find_elements(By.CSS_SELECTOR, "a[href]")}
    assert {"rejects.csv", "warnings.csv", "owner_queue.csv", "mismatches.csv", "workflows.csv"} <= hrefs
    assert all((run_report / name).exists() for name in hrefs if "#" not in name)

    # nothing ran, nothing was fetched
    assert browser.execute_script("return document.scripts.length === 0")
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == []

    out = ROOT / "out"  # not docs/: the README's docs/report-page.png is taken from `make demo`'s report
    out.mkdir(exist_ok=True)
    browser.set_window_size(1400, 1900)  # what a person sees first: the summary, the objects chart and table
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(out / "report-page.png"))

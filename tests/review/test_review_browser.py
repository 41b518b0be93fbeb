"""The review page in a real browser (Debian's chromium driven by Selenium), as a person sees it: the
text of a table row, the confidence label, a lossy value map marked, a hostile ``<script>`` sample
shown as text and not run. Saves ``out/review.png``.

``make test`` installs chromium and chromium-driver (the Makefile's ``tools`` target); the test skips,
saying so, only where they could not be installed."""

from __future__ import annotations

import shutil

import pytest

from shared.mapping.model import label_for
from shared.mapping.review import render_review

from .conftest import ROOT, SCRIPT

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: make venv installs it")
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed and could not be: `make tools` installs them "
           "(apt-get install -y chromium chromium-driver)")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


async def test_a_person_sees_the_proposal(browser, proposal, tmp_path):
    mapping, profiles = proposal
    path = tmp_path / "review.html"
    path.write_text(render_review(mapping, profiles, run_id="review-run", map_hash=mapping.content_hash(),
                                  owner_queue=[{"email": "pat@example.com", "records": {"company": 3}}],
                                  scope={"objects": [o.name for o in mapping.objects]}), encoding="utf-8")
    browser.get(path.as_uri())

    name = next(e for e in mapping.object("company").entries if e.source == "Name")
    label = label_for(name.confidence)
    row = browser.find_element(By.CSS_SELECTOR, "#object-company tr[data-source='Name'][data-target='name']")
    cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
    assert cells[0].splitlines()[0] == "Name" and cells[4].splitlines()[0] == "name" and cells[5] == "string"
    assert cells[6].split() == ["!" if label == "unsure" else "~" if label == "likely" else "✓", label,
                                f"{name.confidence:.2f}"]
    badge = row.find_element(By.CSS_SELECTOR, ".badge")
    assert badge.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"  # coloured, and labelled

    assert SCRIPT in cells[1].splitlines()  # the hostile sample, shown as text in the samples cell
    assert browser.execute_script("return window.pwned === undefined && document.scripts.length === 0")
    assert browser.title == "Field map review · run review-run"

    industry = browser.find_element(By.ID, "vmap-company-industry-industrycode")
    lossy = industry.find_elements(By.CSS_SELECTOR, "tr.lossy")
    entry = next(e for e in mapping.object("company").entries if e.target == "industrycode")
    assert len(lossy) == sum(v.lossy for v in entry.values) > 0
    assert all("lossy:" in r.text for r in lossy)
    fill = lossy[0].find_element(By.CSS_SELECTOR, "td").value_of_css_property("background-color")
    assert fill != industry.find_element(By.CSS_SELECTOR, "tbody tr:not(.lossy) td").value_of_css_property(
        "background-color")  # highlighted

    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    browser.set_window_size(1440, 1600)  # what a person sees first: the summary, how to approve, the first object
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(out / "review.png"))

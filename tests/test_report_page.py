"""report.html in a real headless browser (Debian's chromium through chromium-driver and selenium): it loads with no
console error and no network, sorting a column reorders the rows, every view is a tab, every figure is visible, the
samples play original beside decoded, and bits/s per speaker is on it."""

import json
import math
import shutil

import numpy as np
import pytest

from audiobits.bins import Codebook
from audiobits.analysis.per_speaker import per_speaker, read_utterances
from audiobits.cli import main
from audiobits.analysis.report_columns import VIEWS
from audiobits.analysis.runs import load_run
from audiobits.quality.samples import write_sample
from run_dirs import make_run

webdriver = pytest.importorskip("selenium.webdriver", reason="the page test drives chromium with selenium "
                                                             "(pip install -e '.[test]')")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver "
                                                                  "(apt-get install chromium chromium-driver; .ci/run "
                                                                  "installs them)")


def tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * math.pi * hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Three runs over four speakers; the μ-law one has decoded quality and two listening samples."""
    root = tmp_path_factory.mktemp("page")
    make_run(root, "phonemes", codebooks=[Codebook(64, None)], bits_per_token=1.9, speakers=4, utterances=12)
    make_run(root, "codec2", codebooks=[Codebook(256, 50.0)] * 2, tokens_per_frame=2, bits_per_token=4.0,
             speakers=4, utterances=12)
    mulaw = make_run(root, "mulaw", codebooks=[Codebook(256, 8000.0)], bits_per_token=6.0, tokens_per_utt=4000,
                     seconds=0.5, speakers=4, utterances=12)
    bins = load_run(mulaw).bins_dir()
    for position in range(2):
        write_sample(bins, position, tone(0.5, 220 * (position + 1)), tone(0.5, 220 * (position + 1)) * 0.9)
    (bins / "quality.json").write_text(json.dumps({
        "metrics": {"stoi": {"mean": 0.97, "ci95": [0.96, 0.98], "n": 2}},
        "per_utterance": [{"id": "val-0", "stoi": 0.96}, {"id": "val-1", "stoi": 0.98}]}))
    out = root / "report"
    main(["report", str(root / "runs"), "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def column(browser, table: str, index: int) -> list[str]:
    return [td.text for td in browser.find_elements("css selector", f"#{table} tbody tr td:nth-child({index + 1})")]


def test_the_page_is_self_contained_and_loads_without_console_errors(report, browser):
    page = (report / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page and "src=\"data:" in page
    browser.get((report / "report.html").as_uri())
    assert browser.title == "audiobits report"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    browser.save_screenshot(str(report / "page.png"))
    assert (report / "page.png").stat().st_size > 10_000


def test_sorting_a_column_reorders_the_rows(report, browser):
    browser.get((report / "report.html").as_uri())
    headers = browser.find_elements("css selector", "#table-default th")
    headline = next(i for i, th in enumerate(headers) if "HEADLINE" in th.text)
    before = column(browser, "table-default", 0)
    headers[headline].click()
    ascending = column(browser, "table-default", 0)
    assert ascending == ["phonemes", "codec2", "mulaw"] and ascending != before  # by bits/s, not by text
    headers[headline].click()
    assert column(browser, "table-default", 0) == ["mulaw", "codec2", "phonemes"]
    headers[0].click()
    assert column(browser, "table-default", 0) == ["codec2", "mulaw", "phonemes"]


def test_every_view_is_a_tab_and_every_figure_is_visible(report, browser):
    browser.get((report / "report.html").as_uri())
    for view in VIEWS:
        browser.find_element("css selector", f'nav button[data-view="{view}"]').click()
        assert browser.find_element("id", f"table-{view}").is_displayed(), view
        shown = [s.get_attribute("data-view") for s in browser.find_elements("css selector", "section.view")
                 if s.is_displayed()]
        assert shown == [view]
    figures = browser.find_elements("css selector", "#figures ~ figure img")
    names = {img.get_attribute("alt") for img in figures}
    assert {"headline", "capacity", "context", "frontier", "flops_per_bit"} <= names
    assert names == {p.stem for p in report.glob("*.png")} - {"page"}
    for img in figures:
        browser.execute_script("arguments[0].scrollIntoView()", img)
        assert img.is_displayed() and browser.execute_script("return arguments[0].naturalWidth", img) > 100, \
            img.get_attribute("alt")


def test_samples_play_and_bits_per_sec_per_speaker_is_shown(report, browser):
    browser.get((report / "report.html").as_uri())
    players = browser.find_elements("css selector", "table.listen audio")
    assert len(players) == 4  # two utterances of the μ-law run, original and decoded each
    durations = [browser.execute_script("const a = arguments[0]; a.preload = 'auto'; a.load(); return new Promise("
                                        "r => a.addEventListener('loadedmetadata', () => r(a.duration)))", p)
                 for p in players]
    assert durations == pytest.approx([0.5] * 4, abs=1e-3)
    assert column(browser, "table-speakers", 0) == ["speaker0", "speaker1", "speaker2", "speaker3"]
    header = [th.text for th in browser.find_elements("css selector", "#table-speakers th")]
    mulaw = header.index("mulaw bits/s")
    expected = [s.bits_per_sec for s in per_speaker(read_utterances(report.parent / "runs" / "mulaw" / "version_0"))]
    assert [float(v.replace(",", "")) for v in column(browser, "table-speakers", mulaw)] == pytest.approx(
        expected, rel=1e-3)

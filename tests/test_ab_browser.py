"""The rating page in a real headless browser: open from file://, rate every item, comment, download the
answers for real, reload (answers survive), then score the downloaded files against the key."""
import json
import time
from pathlib import Path

import pytest

from core.jsonio import read_json
from eval.ab_score import score
from eval.ab_sheets import write_sheets

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="needs Debian chromium + chromium-driver; install with `make setup-browser`")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.binary_location = str(CHROMIUM)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(2)
    yield driver, downloads
    driver.quit()


def _wait_for_file(folder: Path, pattern: str, timeout: float = 15.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no download matching {pattern} in {folder}: {sorted(p.name for p in folder.iterdir())}")


def test_rate_export_and_score_in_chromium(browser, tmp_path):
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    run = tmp_path / "run"
    ab_items = [{"item_id": f"chunk-{i}", "prompt": f"任务 {i} <b>不是标记</b>",
                 "adapter": f"甲文 {i}</script><script>window.pwned=1</script>", "base": f"乙文 {i}"}
                for i in range(6)]
    rog_items = [{"item_id": f"chunk-{i}", "prompt": f"开头 {i}", "real": f"原文 {i}", "generated": f"生成 {i}"}
                 for i in range(4)]
    write_sheets(run / "eval" / "ab", ab_items, rog_items, seed=7)
    key = read_json(run / "eval" / "ab" / "key.json")["sheets"]

    # A/B sheet: prefer the adapter on every item but the last, which is a tie; comment on the first.
    driver.get((run / "eval" / "ab" / "ab_sheet.html").as_uri())
    assert driver.execute_script("return window.pwned") is None  # model text stays text
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0  # nothing fetched
    shown = [s.get_attribute("id").removeprefix("item-") for s in driver.find_elements(By.CSS_SELECTOR, "section.item")]
    assert sorted(shown) == sorted(key["ab"]["items"])
    assert driver.find_element(By.CSS_SELECTOR, f"#item-{shown[0]} .passage-a").text.startswith(("甲文", "乙文"))
    expected = {}
    for item in shown:
        side = "A" if key["ab"]["items"][item]["A"] == "adapter" else "B"
        expected[item] = "tie" if item == shown[-1] else side
        driver.find_element(By.ID, f"choice-{item}-{expected[item]}").click()
    driver.find_element(By.ID, f"comment-{shown[0]}").send_keys("第一题 \"quoted\", with comma")
    driver.find_element(By.ID, "rater").send_keys("Rater One")
    driver.find_element(By.ID, "export-json").click()
    exported_json = _wait_for_file(downloads, "ratings-ab-*.json")
    driver.find_element(By.ID, "export-csv").click()
    exported_csv = _wait_for_file(downloads, "ratings-ab-*.csv")

    record = json.loads(exported_json.read_text(encoding="utf-8"))
    assert record["rater"] == "Rater One" and record["sheet"] == "ab"
    assert {a["item"]: a["choice"] for a in record["answers"]} == expected
    assert record["answers"][[a["item"] for a in record["answers"]].index(shown[0])]["comment"].startswith("第一题")

    # Answers survive a reload (localStorage, keyed by the sheet id).
    driver.refresh()
    assert driver.find_element(By.ID, f"choice-{shown[1]}-{expected[shown[1]]}").is_selected()
    assert driver.find_element(By.ID, "rater").get_attribute("value") == "Rater One"

    # Real-or-generated sheet: always pick the real passage except on one item, where the generated one is picked.
    driver.get((run / "eval" / "ab" / "rog_sheet.html").as_uri())
    rog_shown = sorted(key["rog"]["items"])
    for index, item in enumerate(rog_shown):
        real_side = "A" if key["rog"]["items"][item]["A"] == "real" else "B"
        picked = real_side if index else ("B" if real_side == "A" else "A")
        driver.find_element(By.ID, f"choice-{item}-{picked}").click()
    driver.find_element(By.ID, "rater").send_keys("Rater One")
    driver.find_element(By.ID, "export-json").click()
    rog_json = _wait_for_file(downloads, "ratings-rog-*.json")

    scores = score(run, [exported_json, rog_json])["sheets"]
    assert scores["ab"]["judgements"]["adapter"] == 5 and scores["ab"]["judgements"]["tie"] == 1
    assert scores["ab"]["adapter_win_rate"]["estimate"] == 1.0
    assert scores["ab"]["comments"][0]["comment"] == "第一题 \"quoted\", with comma"
    assert scores["rog"]["fooling_rate"]["successes"] == 1 and scores["rog"]["fooling_rate"]["n"] == 4
    # The CSV export scores the same as the JSON one.
    from_csv = score(run, [exported_csv])["sheets"]["ab"]
    assert from_csv["judgements"] == scores["ab"]["judgements"] and from_csv["comments"] == scores["ab"]["comments"]

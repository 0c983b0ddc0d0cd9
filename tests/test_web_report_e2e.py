"""The report and the history in headless Chromium, on a phone (360 and 390 px wide) and a laptop
(1280 px): no text under 12 px (SVG chart text as drawn), nothing wider than the screen, the left and
right comparison there, and an edit made with the page's own controls, then undone. Saves
screenshots (HINGEMARCH_SCREENSHOT_DIR=folder copies them there; docs/img/report-phone.png is
report-phone390.png)."""
from __future__ import annotations

import os
import shutil

import pytest
from test_side_files import _switched_session
from test_web_e2e import CHROMIUM, DRIVER, _chromium

from firmware_bridge.web.app import WebServer

SIZES = {"phone360": (360, 780), "phone390": (390, 844), "laptop": (1280, 800)}

# every visible text's rendered size in px (an SVG's text scaled by the chart's width), and how far
# the page reaches past the screen
MEASURE = """
const out = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode, el = node.parentElement;
  if (!node.textContent.trim() || !el || el.closest("title")) continue;
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height || getComputedStyle(el).visibility === "hidden") continue;
  let px = parseFloat(getComputedStyle(el).fontSize);
  const svg = el.closest("svg");
  if (svg) px *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  out.push([px, node.textContent.trim().slice(0, 40)]);
}
return {texts: out, scroll: document.documentElement.scrollWidth, inner: innerWidth};
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    service, _, _ = _switched_session(tmp_path_factory.mktemp("report-e2e"))
    server = WebServer("127.0.0.1", 0, "", service.last_folder.parent).start()
    yield server, service.last_folder
    server.stop()


def _browser(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as Driver
    _chromium()
    os.environ["SE_OFFLINE"] = "true"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--no-first-run"):
        opts.add_argument(arg)
    if width < 800:
        opts.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height,
                                                                           "pixelRatio": 2}})
    else:
        opts.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Driver(DRIVER), options=opts)


def _check_layout(driver, what: str) -> None:
    m = driver.execute_script(MEASURE)
    small = [(round(px, 1), text) for px, text in m["texts"] if px < 12]
    assert not small, f"{what}: text under 12 px: {small[:8]}"
    assert m["scroll"] <= m["inner"], f"{what}: the page is {m['scroll']} px wide on a {m['inner']} px screen"


def _shot(driver, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("HINGEMARCH_SCREENSHOT_DIR"):
        shutil.copy(path, os.path.join(os.environ["HINGEMARCH_SCREENSHOT_DIR"], path.name))


@pytest.mark.parametrize("size", list(SIZES))
def test_report_and_history_read_on_every_screen(site, size, tmp_path):
    from selenium.webdriver.common.by import By
    server, folder = site
    driver = _browser(*SIZES[size])
    try:
        base = f"http://127.0.0.1:{server.port}"
        driver.get(f"{base}/sessions/{folder.name}")
        assert driver.execute_script("return innerWidth") == SIZES[size][0]
        compare = driver.find_element(By.CSS_SELECTOR, "table.compare")
        heads = [th.text for th in compare.find_elements(By.TAG_NAME, "th")]
        assert heads[1:] == ["left", "right", "difference"]
        rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1:]
                for r in compare.find_elements(By.CSS_SELECTOR, "tbody tr")}
        assert [c.text for c in rows["reps"]][:2] == ["3", "4"] and rows["reps"][2].text == "25 %"
        charts = [c for c in driver.find_elements(By.CSS_SELECTOR, "svg.chart") if c.is_displayed()]
        assert len(charts) == 3
        assert all(c.get_attribute("class").endswith("narrow" if size != "laptop" else "wide") for c in charts)
        _check_layout(driver, f"report at {size}")
        _shot(driver, tmp_path, f"report-{size}")
        driver.get(f"{base}/history/athlete")
        assert driver.find_element(By.TAG_NAME, "h1").text == "athlete"
        _check_layout(driver, f"history at {size}")
        driver.get(f"{base}/sessions")
        _check_layout(driver, f"sessions at {size}")
    finally:
        driver.quit()


def _text(driver, css: str) -> str:
    """The element's text read in one script call: no node handle can go stale while the page reloads."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)


def test_an_edit_made_on_the_page_shows_and_is_undone(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    server, folder = site
    driver = _browser(390, 844)
    try:
        driver.get(f"http://127.0.0.1:{server.port}/sessions/{folder.name}")
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        wait = WebDriverWait(driver, 30, poll_frequency=0.05,    # the page reloads after each edit
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException))
        form = driver.find_element(By.CSS_SELECTOR, 'form[data-kind="set_count"]')
        Select(form.find_element(By.NAME, "set_index")).select_by_value("2")
        form.find_element(By.NAME, "reps").send_keys("6")
        form.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda d: "6*" in _text(d, "table.sets"))
        assert driver.find_element(By.CSS_SELECTOR, "p.figs").text.startswith("9 reps")
        undo = driver.find_element(By.CSS_SELECTOR, "[data-undo]")
        assert "set 2 count 6" in undo.text
        undo.click()
        wait.until(lambda d: "6*" not in _text(d, "table.sets"))
        assert driver.find_element(By.CSS_SELECTOR, "p.figs").text.startswith("7 reps")
        # a false rep deleted from its row, then undone
        driver.find_element(By.CSS_SELECTOR, 'button[aria-label="delete set 1 rep 3"]').click()
        wait.until(lambda d: _text(d, "p.figs").startswith("6 reps"))
        driver.find_element(By.CSS_SELECTOR, "[data-undo]").click()
        wait.until(lambda d: _text(d, "p.figs").startswith("7 reps"))
        _check_layout(driver, "report after edits")
    finally:
        driver.quit()


def test_the_light_theme_follows_the_phone_and_the_toggle_is_remembered(site):
    from selenium.webdriver.common.by import By
    server, folder = site
    driver = _browser(390, 844)
    bg = "return getComputedStyle(document.body).backgroundColor"
    try:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
        driver.get(f"http://127.0.0.1:{server.port}/sessions/{folder.name}")
        assert driver.execute_script(bg) == "rgb(255, 255, 255)"
        toggle = driver.find_element(By.ID, "theme")
        assert toggle.text == "Dark"
        toggle.click()
        assert driver.execute_script(bg) == "rgb(16, 19, 23)" and toggle.text == "Light"
        driver.get(f"http://127.0.0.1:{server.port}/sessions")        # remembered on every page
        assert driver.execute_script(bg) == "rgb(16, 19, 23)"
        driver.find_element(By.ID, "theme").click()
        _check_layout(driver, "sessions, light")
        assert driver.execute_script(bg) == "rgb(255, 255, 255)"
    finally:
        driver.quit()


def test_the_live_page_between_sets_shows_the_rest_the_total_and_says_why_the_trace_is_quiet(tmp_path):
    from conftest import free_port
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from web_helpers import LiveService
    live = LiveService(tmp_path, free_port()).start()
    driver = _browser(390, 844)
    try:
        first, second = live.truth.sets
        k = live.source.sim.stage.clock_factor                # sample time per true second
        live.source.advance_to((first.end_s + 23.0) * k)      # set 1 is over (set gap 20 s), resting
        driver.get(f"http://127.0.0.1:{live.port}/")
        wait = WebDriverWait(driver, 60, poll_frequency=0.05)
        text = lambda el: driver.find_element(By.ID, el).text   # noqa: E731
        wait.until(lambda d: text("caption").startswith("set 1 done · rest 0:"))
        assert text("total") == f"session: {first.reps} reps in 1 set"
        assert driver.execute_script("return traceWord()").startswith("between sets · rest 0:")
        cue = driver.find_element(By.ID, "btn-cue")
        assert cue.text == "Rep cue: off"
        cue.click()
        assert cue.text == "Rep cue: beep"
        driver.execute_script("window.cued = []; repCue = (n) => cued.push(n);")   # what would sound
        for i, t in enumerate(second.rep_completion_s[:2], 1):     # rep by rep, so the page sees each
            live.source.advance_to((t + 1.5) * k)
            wait.until(lambda d, i=i: text("caption") == "set 2" and text("count") == str(i))
        assert driver.execute_script("return traceWord()") == ""
        n, total, cued = driver.execute_script('return [document.getElementById("count").textContent, '
                                               'document.getElementById("total").textContent, cued]')  # one moment
        assert total == f"session: {first.reps + int(n)} reps in 2 sets"
        assert n == "2" and cued == [1, 2]                       # a cue for each new rep, the set's first too
        driver.refresh()
        assert driver.find_element(By.ID, "btn-cue").text == "Rep cue: beep"     # remembered
        _check_layout(driver, "live page")
    finally:
        driver.quit()
        live.close()

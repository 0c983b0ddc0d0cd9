"""End to end in headless Chromium at a phone's size: the live page of a real ``hingemarch run``
(a simulated workout, the real broker) shows on screen the count the simulated athlete did, its side
button goes through the service, and it reconnects by itself to a service that was killed and
started again. Saves a screenshot (HINGEMARCH_SCREENSHOT=path also copies it there, e.g. for the
README's docs/img/live.png)."""
from __future__ import annotations

import os
import shutil

import pytest
from conftest import LOOPBACK, free_port
from run_helpers import wait_listening

from imu.sim import simulate_session

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PHONE = {"width": 390, "height": 844, "pixelRatio": 2}
SEED = 1


def _chromium() -> None:
    """Debian's chromium and its driver, installed by ./run tests when they are missing."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
        pytest.fail(f"{CHROMIUM} and {DRIVER} are needed: ./run tests installs them "
                    "(Debian: apt-get install chromium chromium-driver)")


@pytest.fixture
def phone(monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as Driver
    _chromium()
    monkeypatch.setenv("SE_OFFLINE", "true")          # never let Selenium fetch a browser or driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--no-first-run"):
        opts.add_argument(arg)
    opts.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    driver = webdriver.Chrome(service=Driver(DRIVER), options=opts)
    yield driver
    driver.quit()


def test_phone_page_counts_the_simulated_set_and_reconnects(service, phone, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    truth = simulate_session(SEED, rate_hz=200.0, placement="thigh", side="left").truth
    expected = truth.sets[0].reps
    port = free_port()
    web = ("--web", "--web-host", LOOPBACK, "--web-port", str(port))
    first = service("--source", "sim", "--speed", "10", "--seed", str(SEED), *web).start()
    wait_listening(first.proc, port)
    phone.get(f"http://{LOOPBACK}:{port}/")
    wait = WebDriverWait(phone, 60, poll_frequency=0.05)
    text = lambda el: phone.find_element(By.ID, el).text   # noqa: E731

    wait.until(lambda d: text("count") == str(expected) and text("caption").startswith("set 1"))
    assert phone.execute_script("return innerWidth") == PHONE["width"]
    assert text("link") == "live" and text("side") == "left leg"
    assert phone.execute_script("return view.trace.length") > 50            # the trace is drawn from data
    if phone.execute_script("return view.state.in_set"):                   # its reps are on the trace
        assert phone.execute_script("return view.marks.length") >= 1
    assert float(text("depth")) > 25 and float(text("height")) > 25 and float(text("tempo")) > 0.5
    shot = tmp_path / "live.png"
    phone.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("HINGEMARCH_SCREENSHOT"):
        shutil.copy(shot, os.environ["HINGEMARCH_SCREENSHOT"])

    phone.find_element(By.ID, "btn-side").click()                           # through /api/cmd/side
    wait.until(lambda d: text("side") == "right leg" and text("toast") == "right leg ✓")

    old_session = text("session")
    first.proc.kill()                                                       # the Pi drops
    wait.until(lambda d: text("link") != "live")
    second = service("--source", "sim", "--speed", "10", "--seed", "4", *web).start()
    wait_listening(second.proc, port)
    wait.until(lambda d: text("link") == "live" and text("session") not in ("", old_session))
    logs = phone.get_log("browser")
    assert [e for e in logs if e["source"] != "network" or "/api/live" not in e["message"]] == []  # no script error


def test_phone_page_shows_every_problem_plainly(service, phone):
    """A recording that cannot start (the sessions folder is a file): the service's problem line is on
    the page, in red, with line breaks kept for several (tests/test_web_hostile.py has two in /api/state)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    svc = service("--source", "sim", "--speed", "10", "--web", "--web-host", LOOPBACK, "--web-port", str(port))
    svc.state_dir.mkdir(parents=True, exist_ok=True)
    (svc.state_dir / "sessions").write_text("a file where the sessions folder should be")
    svc.start()
    wait_listening(svc.proc, port)
    phone.get(f"http://{LOOPBACK}:{port}/")
    wait = WebDriverWait(phone, 60, poll_frequency=0.05)
    error = phone.find_element(By.ID, "error")
    wait.until(lambda d: error.text.startswith("recording stopped: "))
    assert error.is_displayed() and error.value_of_css_property("white-space") == "pre-line"

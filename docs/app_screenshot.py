"""Take a screenshot of the explorer with headless Chromium: ``make app-screenshot``.

``python docs/app_screenshot.py docs/app.png [--days 150]`` starts ``relsim app`` on a free
port of 127.0.0.1, opens it in headless Chromium (the distribution's ``chromium`` and
``chromium-driver`` packages, driven by selenium; nothing is downloaded), runs the model
for ``--days`` days (Mesa's "Render Interval" set to its maximum, then Step), and writes
the page as a PNG. tests/test_app_browser.py drives the app with the same helpers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

#: Where Debian's packages put the browser and its driver (overridable by environment).
CHROMIUM = os.environ.get("RELSIM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RELSIM_CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1600, 1500)
#: The screenshot's scenario: the demo's chaotic plant (experiments/studies/demo_series.toml).
SCENARIO = "process_cv=0.6&disruption_rate=0.2"


def browser_available() -> str | None:
    """None if Chromium and its driver are installed, else what is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    return ", ".join(missing) + " not found (apt-get install chromium chromium-driver)" \
        if missing else None


@contextmanager
def app_server(timeout: float = 120.0):
    """Run ``relsim app --port 0`` and yield the address it prints; stop it afterwards."""
    relsim = Path(sys.executable).with_name("relsim")
    cmd = [str(relsim)] if relsim.exists() else [sys.executable, "-m", "relsim.experiments"]
    proc = subprocess.Popen([*cmd, "app", "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until relsim prints the address (or exits)
            if "running at " in line:
                url = line.split("running at ", 1)[1].split()[0]
                break
            if time.monotonic() > deadline:
                break
        if url is None:
            raise RuntimeError(f"relsim app did not print its address (status {proc.poll()})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chromium(window: tuple[int, int] = WINDOW):
    """A headless Chromium driven by selenium, with the browser console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={window[0]},{window[1]}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def page_text(driver) -> str:
    """The visible text of the page."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def wait_for_text(driver, text: str, timeout: float = 60.0) -> float:
    """Wait until ``text`` is on the page; return the seconds waited."""
    t0 = time.monotonic()
    while text not in page_text(driver):
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{text!r} did not appear within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - t0


def button(driver, label: str):
    """The button whose text is ``label`` (case-insensitive)."""
    from selenium.webdriver.common.by import By

    for b in driver.find_elements(By.TAG_NAME, "button"):
        if b.text.strip().lower() == label.lower():
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", b)
            return b
    raise LookupError(f"no button {label!r} on the page")


def set_render_interval_max(driver) -> None:
    """Move SolaraViz's "Render Interval (steps)" slider to its end (days per Step)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for slider in driver.find_elements(By.CSS_SELECTOR, ".v-input__slider"):
        if "Render Interval" in slider.text:
            handle = slider.find_element(By.CSS_SELECTOR, "[role=slider]")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});"
                                  "arguments[0].focus();", handle)
            handle.send_keys(Keys.END)
            return
    raise LookupError("no Render Interval slider on the page")


def console_errors(driver) -> list[str]:
    """Messages the browser logged as errors (SEVERE) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def day_shown(driver) -> int:
    """The day in the explorer's banner ("Day N of ...")."""
    match = re.search(r"Day (\d+) of", page_text(driver))
    if match is None:
        raise LookupError("no 'Day N of' banner on the page")
    return int(match.group(1))


def wait_for_day(driver, at_least: int, timeout: float = 60.0) -> int:
    """Wait until the day shown is at least ``at_least`` (Play may skip days on screen)."""
    t0 = time.monotonic()
    while (now := day_shown(driver)) < at_least:
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"the day shown stayed below {at_least} for {timeout:.0f} s")
        time.sleep(0.1)
    return now


def step_and_wait(driver, timeout: float = 120.0) -> int:
    """Press Step and wait until the day shown changes; return the new day."""
    before = day_shown(driver)
    button(driver, "Step").click()
    t0 = time.monotonic()
    while (now := day_shown(driver)) == before:
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"the day shown stayed {before} for {timeout:.0f} s after Step")
        time.sleep(0.05)
    return now


def main(argv: list[str] | None = None) -> int:
    """Write a screenshot of the explorer after some days."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="PNG file to write")
    ap.add_argument("--days", type=int, default=200,
                    help="run at least this many days first (default 200)")
    ap.add_argument("--query", default=SCENARIO,
                    help=f"scenario in the address (default {SCENARIO!r}, the demo's "
                         "chaotic plant; '' for the defaults)")
    args = ap.parse_args(argv)
    missing = browser_available()
    if missing:
        print(f"app_screenshot: {missing}", file=sys.stderr)
        return 2
    with app_server() as url, chromium() as driver:
        driver.get(url + (f"?{args.query}" if args.query else ""))
        wait_for_text(driver, "Day 0 of", timeout=120)
        set_render_interval_max(driver)
        day = 0
        while day < args.days:
            day = step_and_wait(driver)
        time.sleep(1.5)  # let the browser paint the last images
        driver.execute_script("document.querySelectorAll('*').forEach(e => e.scrollTop = 0);")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
    print(f"wrote {args.out} (day {day})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The explorer in a real browser: `relsim app` served on 127.0.0.1, driven by headless
Chromium (Debian's chromium and chromium-driver packages, through selenium).

It runs in `make test`; `.ci/run` installs Chromium on a fresh machine. Without a browser
the test is skipped on a developer's machine and fails under CI (CI=true).
"""

from __future__ import annotations

import importlib.util
import os
import struct
import time
from pathlib import Path

import pytest

pytest.importorskip("solara", reason="the app extra is not installed")
pytest.importorskip("selenium", reason="the test extra is not installed")

_SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "app_screenshot.py"
_spec = importlib.util.spec_from_file_location("relsim_app_screenshot", _SCRIPT)
shot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shot)


@pytest.fixture(scope="module")
def browser_ready():
    missing = shot.browser_available()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {missing}")
        pytest.skip(missing)


def test_page_loads_steps_and_is_screenshotted(browser_ready, tmp_path):
    with shot.app_server() as url, shot.chromium() as driver:
        assert url.startswith("http://127.0.0.1:")
        driver.get(url)
        shot.wait_for_text(driver, "Day 0 of 720", timeout=90)
        text = shot.page_text(driver)
        for expected in ("Controls", "Scenario", "Parameters", "utilization = 0.85",
                         "relationship vs sacred"):
            assert expected in text
        assert shot.console_errors(driver) == []
        assert shot.step_and_wait(driver) == 1
        assert shot.step_and_wait(driver) == 2
        # Play runs day after day until paused.
        shot.button(driver, "▶").click()
        shot.wait_for_day(driver, 4, timeout=60)
        shot.button(driver, "❚❚").click()
        t0 = time.monotonic()
        while not any(b.text.strip() == "▶" for b in driver.find_elements("tag name", "button")):
            assert time.monotonic() - t0 < 30, "the pause button did not turn into play"
            time.sleep(0.2)
        # The views may lag the model by a few days: wait until the day shown settles.
        seen, t0 = [shot.day_shown(driver)], time.monotonic()
        while len(seen) < 2 or seen[-1] != seen[-2]:
            assert time.monotonic() - t0 < 60, f"the day kept moving after pause: {seen}"
            time.sleep(2.0)
            seen.append(shot.day_shown(driver))
        assert 4 <= seen[-1] < 720
        # The views are images: all drawn, none broken.
        n_images = driver.execute_script(
            "return [...document.images].filter(i => i.complete && i.naturalWidth > 300)"
            ".length")
        assert n_images >= 5
        assert shot.console_errors(driver) == []
        out = tmp_path / "app.png"
        driver.save_screenshot(str(out))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == shot.WINDOW[0] and 600 < height <= shot.WINDOW[1]

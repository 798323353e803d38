"""The course in a real browser: JupyterLab as ``make course`` starts it, Debian's Chromium.

Notebook 02 runs in reduced mode inside JupyterLab, driven by Playwright through headless
Chromium; the test moves the temperature slider of its widget and checks that the plot redraws.
Chromium comes from the system (``apt-get install -y chromium``; ``.ci/run`` installs it), not
from Playwright's own download. Without it the test is skipped, unless ``N2N_REQUIRE_BROWSER``
is set (CI sets it), where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
# without these Chromium keeps calling Google's hosts, which a closed network refuses
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

pytestmark = pytest.mark.slow


def _need_browser() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium ({CHROMIUM}; apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    if missing:
        if os.environ.get("N2N_REQUIRE_BROWSER"):
            pytest.fail("the browser test needs " + " and ".join(missing))
        pytest.skip("the browser test needs " + " and ".join(missing))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a copy of the course (so that autosave never touches the repository),
    started with the command of ``make course`` plus a port and a token."""
    _need_browser()
    course = tmp_path / "notebooks"
    course.mkdir()
    shutil.copy(ROOT / "notebooks" / "02_toy_2d_flows.ipynb", course)
    port, token = _free_port(), "n2n-browser-test"
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter), "lab", str(course), "--no-browser", f"--port={port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")  # as the Makefile adds it
    env = {**os.environ, "N2N_FAST": "1", "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("N2N_STATIC_WIDGETS", None)
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                              cwd=course)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (tmp_path / "jupyterlab.log").read_text()) from None
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_browser_notebook_02_slider_redraws_the_plot(jupyterlab):
    from playwright.sync_api import sync_playwright

    url, token = jupyterlab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/02_toy_2d_flows.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            # the kernel is up when the status bar says so
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            page.get_by_text("Python 3 (ipykernel) | Busy").wait_for(timeout=60_000)
            # the widget of section 4: two sliders and the picture they draw
            sliders = page.locator(".widget-interact .widget-slider")
            sliders.nth(1).wait_for(state="attached", timeout=300_000)
            sliders.nth(1).scroll_into_view_if_needed()
            picture = page.locator(".widget-interact img").first
            picture.wait_for(state="attached", timeout=120_000)
            before = picture.get_attribute("src")
            assert before and before.startswith("data:image/png")
            sliders.nth(1).locator("[role='slider']").first.focus()
            for _ in range(10):  # temperature 1.00 -> 0.50 in steps of 0.05
                page.keyboard.press("ArrowLeft")
            page.wait_for_function(
                "before => { const img = document.querySelector('.widget-interact img');"
                " return img && img.src !== before; }", arg=before, timeout=60_000)
            after = page.locator(".widget-interact img").first.get_attribute("src")
            assert after != before
            label = sliders.nth(1).locator(".widget-readout").first.inner_text()
            assert label.strip().startswith("0.5"), label
        except Exception:
            page.screenshot(path=str(jupyterlab_shot := Path(os.environ.get(
                "N2N_BROWSER_SHOT", "/tmp/n2n-browser-test.png"))), full_page=True)
            print(f"screenshot of the page: {jupyterlab_shot}")
            raise
        finally:
            browser.close()

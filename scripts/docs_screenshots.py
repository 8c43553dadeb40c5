#!/usr/bin/env python
"""Take the screenshots in docs/img from a running demo (``make run``) with Debian's chromium.

.venv/bin/python scripts/docs_screenshots.py [BASE_URL]     # default http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def login(page: Page, path: str, username: str) -> None:
    page.goto(BASE + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "gridcare-demo")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state("networkidle")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
    print(OUT / f"{name}.png")  # noqa: T201


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 800})
        page = ctx.new_page()
        login(page, "/login/", "counter_clerk")
        shot(page, "dashboard")
        page.goto(BASE + "/customers/?q=王")
        shot(page, "customer-search")
        page.locator("table a").first.click()
        page.wait_for_load_state("networkidle")
        shot(page, "customer-360")
        page.goto(BASE + "/customers/topology/")
        page.locator("table a").first.click()
        page.locator("table a").first.click()
        page.wait_for_load_state("networkidle")
        shot(page, "topology-feeder")
        ctx.close()
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        page = ctx.new_page()
        login(page, "/login/", "metering_tech")
        page.goto(BASE + "/metering/exceptions/")
        shot(page, "metering-exceptions")
        page.locator("table a[href*='/metering/meters/']").first.click()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(800)  # let the chart draw
        shot(page, "metering-meter")
        page.goto(BASE + "/metering/verifications/")
        shot(page, "metering-verifications")
        ctx.close()
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 760})
        page = ctx.new_page()
        login(page, "/portal/login/", "customer1")
        shot(page, "portal-home")
        browser.close()


if __name__ == "__main__":
    main()

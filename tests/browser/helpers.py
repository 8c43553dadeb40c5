"""What the browser journeys share: signing in through the real login form, and saving
screenshots for review when ``GRIDCARE_SCREENSHOTS`` names a directory."""

from __future__ import annotations

import os
from typing import Any

SHOTS = os.environ.get("GRIDCARE_SCREENSHOTS")


def login(
    page: Any, username: str, password: str, *, path: str = "/login/", last_submit: bool = False
) -> None:
    """Sign in at ``path`` (the console's or the portal's login page) and wait until the
    next page has loaded. ``last_submit`` clicks the page's last submit button instead of
    the first (pages whose header carries another form before the login form)."""
    page.goto(page.base_url + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    buttons = page.locator("form button[type=submit], form input[type=submit]")
    (buttons.last if last_submit else buttons.first).click()
    page.wait_for_load_state("networkidle")


def shot(page: Any, name: str) -> None:
    """A full-page screenshot ``<name>.png`` into ``GRIDCARE_SCREENSHOTS`` when it is set."""
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)

"""The run page in a real browser: its progress follows a run executing elsewhere."""
import os
from pathlib import Path

import pytest

from ledger.actors import Actor
from migrations_ops.services import runs

from ..factories import StaffFactory

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("CREDITSITE_SCREENSHOTS", "/tmp/creditsite-screenshots"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture
def page(live_server, monkeypatch):
    playwright = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync",
        ])
        yield browser.new_page()
        browser.close()


def test_run_page_shows_live_progress_of_a_run_executing_in_another_process(page, live_server, legacy_keys_tx, dual_phase):
    from playwright.sync_api import expect

    StaffFactory(username="operator", is_superuser=True)
    preview = runs.run_preview(operation="key-credits", params={}, execute=True)
    run = runs.run_create(preview=preview, actor=Actor.system("t"), dry_run=False, options={"batch_size": 4})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/migrations_ops/run/{run.pk}/change/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")
    expect(page.locator("#mo-status")).to_have_text("planned")
    expect(page.locator("#mo-scanned")).to_have_text("0")
    runs.run_execute(run_id=run.pk, actor=Actor.system("worker"))
    expect(page.locator("#mo-status")).to_have_text("succeeded", timeout=15_000)
    expect(page.locator("#mo-scanned")).to_have_text("12")
    expect(page.locator("#mo-failed")).to_have_text("4")
    expect(page.locator("#mo-records tbody tr")).to_have_count(12)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "migration_run.png"), full_page=True)

"""End to end in headless Chromium: a Support user finds an account and grants credits.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install chromium``) and the pip
package ``playwright`` (no browser download). Screenshots go to $SCREENSHOT_DIR when set.
"""
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from ledger.actors import Actor
from ledger.models import AuditEvent, GrantKind, LedgerEntry
from ledger.roles import SUPPORT
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create

from ...factories import AccountFactory, CustomerFactory, StaffFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def browser_page(monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright pip package")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls
    # happen between browser steps, never concurrently.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1320, "height": 900})
        yield page
        browser.close()


def _shot(page, name, tmp_path):
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _history(account):
    actor = Actor.system("shop")
    grant_create(account_id=account.pk, amount=500, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="buy",
                 description="Starter pack")
    for n, (amount, what) in enumerate([(40, "Video render #812"), (25, "Upscale 4K"), (10, "Voice clone")]):
        debit_create(account_id=account.pk, amount=amount, actor=actor, idempotency_key=f"d{n}", description=what)


def test_support_user_finds_account_and_grants_credits(live_server, browser_page, tmp_path):
    user = StaffFactory(username="sam")
    user.groups.add(Group.objects.get(name=SUPPORT))
    account = AccountFactory(customer=CustomerFactory(email="ada@studio.example"))
    account.customer.workspace = account.workspace
    account.customer.save()
    _history(account)
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/ledger/creditaccount/")
    page.fill("#searchbar", "ada@studio.example")
    page.press("#searchbar", "Enter")
    _shot(page, "accounts-search", tmp_path)
    page.click("#result_list a:has-text(\"ada@studio.example\")")
    assert page.inner_text("#balance") == "425"
    _shot(page, "account-page-before", tmp_path)

    page.click("#grant-button")
    page.fill("#id_amount", "250")
    page.fill("#id_reason", "Ticket #4521: render failed twice")
    _shot(page, "grant-form", tmp_path)
    page.click("#review-button")
    assert page.inner_text("#balance-after") == "675"
    _shot(page, "grant-confirm", tmp_path)
    page.click("#confirm-button")

    assert page.inner_text("#balance") == "675"
    assert "Ticket #4521" in page.inner_text("#entries")
    assert "Granted 250 credits" in page.inner_text(".messagelist")
    _shot(page, "account-page-after", tmp_path)
    page.click("#full-history")
    assert page.locator("#result_list tbody tr").count() == 5
    _shot(page, "entries-list", tmp_path)

    entry = LedgerEntry.objects.filter(account=account).latest("id")
    assert (entry.amount, entry.actor) == (250, "staff:sam")
    assert AuditEvent.objects.get(action="grant.create").reason == "Ticket #4521: render failed twice"

"""Both dashboards in headless Chromium: the charts render, the Health page shows findings.

Screenshots go to ``var/screenshots/`` for a person to look at.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from ledger import clock
from ledger.models import GrantKind
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from ledger.services.reports import report_run_store
from ledger.services.summaries import daily_summary_refresh

from ...factories import AccountFactory, CustomerFactory, StaffFactory, WorkspaceFactory
from ..reporting import ACTOR, defences_off, lot_expire
from ..reports.test_migration_status import run_plant
from ..reports.test_undeducted_tasks import task

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(settings.VAR_DIR) / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian chromium at {CHROMIUM} (apt-get install chromium)"),
]


def history_build() -> None:
    """Ninety days of grants, spending and some expiry in two workspaces."""
    now = clock.now()
    accounts = []
    for slug in ("acme", "globex"):
        workspace = WorkspaceFactory(slug=slug)
        accounts += [AccountFactory(workspace=workspace, customer=CustomerFactory(workspace=workspace, email=f"{slug}{n}@example.com"))
                     for n in range(2)]
    for day in range(90, -1, -1):
        moment = now - timedelta(days=day, hours=1)
        with mock.patch("django.utils.timezone.now", return_value=moment):
            for n, account in enumerate(accounts):
                key = f"{day}"
                grant_create(account_id=account.pk, amount=200 + 40 * n + (day % 7) * 15, kind=GrantKind.PURCHASE,
                             actor=ACTOR, idempotency_key=f"g{key}", expires_at=moment + timedelta(days=100 + 7 * n))
                debit_create(account_id=account.pk, amount=120 + 25 * n + (day % 5) * 20, actor=ACTOR, idempotency_key=f"d{key}")
            if day % 15 == 0:
                short = grant_create(account_id=accounts[0].pk, amount=90, kind=GrantKind.SHARE, actor=ACTOR,
                                     idempotency_key=f"s{day}", expires_at=moment + timedelta(hours=2)).grant
                lot_expire(short)
    daily_summary_refresh(start=now.date() - timedelta(days=89), end=now.date(), actor=ACTOR)
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_creditaccount SET balance = balance + 5, total_earned = total_earned + 5 WHERE id = %s", [accounts[3].pk])
    report_run_store(name="consistency", actor=ACTOR)
    task(accounts[1], deducted=False, minutes_ago=90)
    task(accounts[2], shortfall=40)
    run_plant("key-credits", "failed", error="IntegrityError: duplicate key value violates unique constraint")
    run_plant("key-credits-sync-back", "running", minutes_ago=60, heartbeat_minutes_ago=25)
    PeriodicTask.objects.create(
        name="expire credits daily", task="ledger.tasks.grants_expire_due",
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS), last_run_at=now - timedelta(days=3),
    )


def test_dashboards_render_charts_in_chromium(live_server):
    from playwright.sync_api import sync_playwright

    history_build()
    user = StaffFactory(username="ops")
    user.user_permissions.add(Permission.objects.get(codename="repair_accounts"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        outside = []
        page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(live_server.url) else None)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "ops")
        page.fill("#id_password", "pass-1234")
        page.click("input[type=submit]")
        page.click("#dashboards-links >> text=Credits overview")
        page.wait_for_selector("#chart-flows svg")
        assert page.locator("#chart-flows polyline.series").count() == 5  # granted, spent, expired, voided, refilled
        assert page.locator("#chart-outstanding polyline.series").count() == 1
        assert page.locator("#migration-flows").is_visible() and page.locator("#as-of").is_visible()
        box = page.locator("#chart-flows svg").bounding_box()
        assert box["width"] > 600 and box["height"] > 150
        assert "Granted" in page.inner_text("#chart-flows") and page.locator("#chart-flows text.tick").count() > 10
        page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
        with page.expect_navigation():
            page.select_option("#ws-filter", "globex")
        assert "acme" not in page.inner_text("#top-balance")
        page.screenshot(path=str(SHOTS / "overview-globex.png"), full_page=True)
        page.click("nav.dash-tabs >> text=Health")
        page.wait_for_selector("#health-consistency")
        assert "FINDINGS" in page.inner_text("#health-consistency")
        assert "expire credits daily" in page.inner_text("#health-beat")
        tasks = page.inner_text("#health-undeducted-tasks")
        assert "1 finding" in tasks and "undeducted" in tasks and "short" in tasks
        migrations = page.inner_text("#health-migration-status")
        assert "2 findings" in migrations and "stuck" in migrations and "IntegrityError" in migrations
        page.screenshot(path=str(SHOTS / "health.png"), full_page=True)
        page.click("#health-consistency a.button >> nth=0")
        page.wait_for_selector("#repair")
        assert "adjustment entry" not in page.inner_text("#repair") and "rebuild balance" in page.inner_text("#repair")
        page.screenshot(path=str(SHOTS / "repair.png"), full_page=True)
        page.fill("#reason", "balance edited by hand")
        with page.expect_navigation():
            page.click("#repair input[type=submit]")
        assert "repaired: balance, total_earned changed" in page.inner_text("ul.messagelist")
        browser.close()
    assert outside == []

"""The daily summary tells voids and data migrations apart from expiry, and is kept current
every 10 minutes by beat (it was rebuilt once a day)."""
import json

from django.db import migrations, models

DAILY_NAME = "Daily credit summary (daily)"
CURRENT_NAME = "Credit summary (every 10 minutes)"
TASK = "ledger.tasks_reports.daily_summary_refresh"


def rows_drop(apps, schema_editor):
    # Rows built before the split count voids and rollbacks as expired: they are derived
    # data, so they go and the overview lists their days as missing until rebuilt (the
    # page's Refresh or credits_summary_refresh).
    apps.get_model("ledger", "DailySummary").objects.all().delete()


def schedule_every_10_minutes(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = interval_model.objects.get_or_create(every=10, period="minutes")
    if task_model.objects.filter(name=CURRENT_NAME).exists():
        return
    updated = task_model.objects.filter(name=DAILY_NAME).update(name=CURRENT_NAME, interval=interval, crontab=None)
    if not updated:
        task_model.objects.create(name=CURRENT_NAME, task=TASK, interval=interval, args=json.dumps([]), kwargs="{}")


def schedule_daily(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    crontab, _ = crontab_model.objects.get_or_create(
        minute="20", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=CURRENT_NAME).update(
        name=DAILY_NAME, crontab=crontab, interval=None)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0013_owner_search"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField("dailysummary", "voided", models.BigIntegerField(default=0)),
        migrations.AddField("dailysummary", "migrated_in", models.BigIntegerField(default=0)),
        migrations.AddField("dailysummary", "migrated_out", models.BigIntegerField(default=0)),
        migrations.RunPython(rows_drop, migrations.RunPython.noop),
        migrations.RunPython(schedule_every_10_minutes, schedule_daily),
    ]

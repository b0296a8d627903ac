"""Create the beat schedule in django-celery-beat's tables (editable in the admin)."""
import json

from django.db import migrations

DAILY = {
    "Expire due credits (daily)": ("ledger.tasks.credits_expire_due", "15", "0"),
    "Refill credits (daily)": ("ledger.tasks.credits_refill_due", "5", "0"),
    "Consistency report (daily)": ("ledger.tasks_reports.consistency_report_daily", "30", "3"),
    "Daily credit summary (daily)": ("ledger.tasks_reports.daily_summary_refresh", "20", "0"),
}
EVERY_MINUTES = {
    "Charge uncharged usage tasks": ("ledger.tasks.usage_charge_uncharged", 5),
    "Release expired usage holds": ("ledger.tasks.usage_holds_release", 5),
}


def schedule_create(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, minute, hour) in DAILY.items():
        crontab, _ = crontab_model.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        task_model.objects.get_or_create(
            name=name, defaults={"task": task, "crontab": crontab, "args": json.dumps([]), "kwargs": "{}"}
        )
    for name, (task, minutes) in EVERY_MINUTES.items():
        interval, _ = interval_model.objects.get_or_create(every=minutes, period="minutes")
        task_model.objects.get_or_create(
            name=name, defaults={"task": task, "interval": interval, "args": json.dumps([]), "kwargs": "{}"}
        )


def schedule_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[*DAILY, *EVERY_MINUTES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0006_usage_tasks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_delete)]

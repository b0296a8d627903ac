"""Create a demo admin user and demo ledger data, once; print the login."""
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from ledger.demo import demo_data_load


class Command(BaseCommand):
    help = "Create the demo admin user and demo ledger data (idempotent) and print the login."

    def handle(self, *args, **options):
        username = os.environ.get("DEMO_ADMIN_USER", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "creditsite-demo")
        users = get_user_model().objects
        if not users.filter(username=username).exists():
            users.create_superuser(username=username, email=f"{username}@example.com", password=password)
            self.stdout.write(f"created superuser {username}")
        summary = demo_data_load()
        self.stdout.write(summary)
        self.stdout.write(self.style.SUCCESS(
            f"Demo admin login: {username} / {password}  ->  http://127.0.0.1:8000/admin/"
        ))

"""Staff users for the dashboard views: plain staff, and Operations with repair rights."""
import pytest
from django.contrib.auth.models import Permission

from ...factories import StaffFactory


@pytest.fixture
def staff(db):
    return StaffFactory(username="support")


@pytest.fixture
def operator(db):
    user = StaffFactory(username="operator")
    user.user_permissions.add(Permission.objects.get(codename="repair_accounts"))
    return user


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client

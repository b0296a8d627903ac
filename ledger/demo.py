"""Demo data for `make run`: a workspace with product users, keys and some history."""
from django.db import transaction

from .actors import Actor
from .models import ApiKey, GrantKind, OwnerKind, Workspace
from .services.accounts import account_open
from .services.customers import customer_signup
from .services.debits import debit_create, refund_create
from .services.grants import grant_create

DEMO_USERS = 25


def demo_data_load() -> str:
    """Load the demo workspace once; running it again changes nothing."""
    actor = Actor.system("demo")
    workspace, created = Workspace.objects.get_or_create(slug="demo", defaults={"name": "Demo Studio"})
    if not created:
        return "demo data already loaded"
    for n in range(DEMO_USERS):
        signup = customer_signup(
            workspace_id=workspace.pk, external_id=f"demo-user-{n}", email=f"user{n}@demo.example", actor=actor
        )
        account_id = signup.account.pk
        if n % 3 == 0:
            grant_create(
                account_id=account_id, amount=500 + 10 * n, kind=GrantKind.PURCHASE, actor=actor,
                idempotency_key=f"demo-purchase-{n}", description="Starter pack",
            )
        for k in range(n % 4):
            debit = debit_create(
                account_id=account_id, amount=10 + k * 10, actor=actor, idempotency_key=f"demo-debit-{n}-{k}",
                description=f"Video render #{n}-{k}", source="task", source_id=f"demo-{n}-{k}",
            )
            if n % 5 == 0 and k == 0:
                refund_create(
                    debit_entry_id=debit.entry.pk, actor=actor, idempotency_key=f"demo-refund-{n}",
                    reason="Render failed",
                )
    with transaction.atomic():
        for n in range(5):
            key = ApiKey.objects.create(workspace=workspace, external_id=f"key_demo_{n}", name=f"Demo key {n}")
            account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.API_KEY, owner_id=key.pk)
    return f"loaded demo workspace with {DEMO_USERS} product users and 5 API keys"

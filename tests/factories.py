"""factory_boy factories for ledger rows. Balances are only ever moved through services."""
import factory
from django.contrib.auth import get_user_model

from ledger.models import ApiKey, CreditAccount, Customer, Identity, OwnerKind, Workspace


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    slug = factory.Sequence(lambda n: f"ws-{n}")
    name = factory.Sequence(lambda n: f"Workspace {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    workspace = factory.SubFactory(WorkspaceFactory)
    external_id = factory.Sequence(lambda n: f"user-{n}")
    email = factory.Sequence(lambda n: f"user{n}@example.com")


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    workspace = factory.SubFactory(WorkspaceFactory)
    external_id = factory.Sequence(lambda n: f"identity-{n}")


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    workspace = factory.SubFactory(WorkspaceFactory)
    external_id = factory.Sequence(lambda n: f"key_{n:06d}")


class AccountFactory(factory.django.DjangoModelFactory):
    """An empty account owned by a product user of the workspace."""

    class Meta:
        model = CreditAccount

    workspace = factory.SubFactory(WorkspaceFactory)
    owner_kind = OwnerKind.CUSTOMER
    customer = factory.SubFactory(CustomerFactory, workspace=factory.SelfAttribute("..workspace"))


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@creditsite.test")
    is_staff = True
    password = factory.django.Password("pass-1234")

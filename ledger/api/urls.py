"""Routes of the REST API (mounted at /api/ by creditsite/urls.py).

Task endpoints (usage: create, complete, fail) and reward endpoints (sign-in, invite,
share) go in the marked places below; see docs/api.md, "Adding an endpoint".
"""
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

app_name = "api"

urlpatterns = [
    path("v1/accounts/lookup/", views.AccountLookupView.as_view(), name="account-lookup"),
    path("v1/accounts/<int:account_id>/balance/", views.AccountBalanceView.as_view(), name="account-balance"),
    path("v1/accounts/<int:account_id>/entries/", views.AccountEntriesView.as_view(), name="account-entries"),
    path("v1/accounts/<int:account_id>/grants/", views.GrantCreateView.as_view(), name="grant-create"),
    path("v1/accounts/<int:account_id>/grants/<int:grant_id>/void/", views.GrantVoidView.as_view(), name="grant-void"),
    path("v1/accounts/<int:account_id>/debits/", views.DebitCreateView.as_view(), name="debit-create"),
    path("v1/accounts/<int:account_id>/debits/<int:entry_id>/refund/", views.RefundCreateView.as_view(), name="refund-create"),
    path("v1/customers/", views.CustomerSignupView.as_view(), name="customer-signup"),
    # Rewards: accounts/<int:account_id>/rewards/{sign-in,invite,share}/ (ledger.services.rewards).
    # Tasks: accounts/<int:account_id>/tasks/, tasks/<int:task_id>/{complete,fail}/ (ledger.services.usage).
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]), name="docs"),
    re_path(r"^", views.not_found, name="not-found"),  # JSON 404 for any other /api/ path
]

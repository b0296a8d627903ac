"""Routes of the REST API (mounted at /api/ by creditsite/urls.py); see docs/api.md."""
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
    path("v1/accounts/<int:account_id>/tasks/", views.TasksView.as_view(), name="tasks"),
    path("v1/accounts/<int:account_id>/tasks/<int:task_id>/", views.TaskView.as_view(), name="task"),
    path("v1/accounts/<int:account_id>/tasks/<int:task_id>/complete/", views.TaskCompleteView.as_view(),
         name="task-complete"),
    path("v1/accounts/<int:account_id>/tasks/<int:task_id>/fail/", views.TaskFailView.as_view(), name="task-fail"),
    path("v1/accounts/<int:account_id>/rewards/sign-in/", views.RewardSignInView.as_view(), name="reward-sign-in"),
    path("v1/accounts/<int:account_id>/rewards/invite/", views.RewardInviteView.as_view(), name="reward-invite"),
    path("v1/accounts/<int:account_id>/rewards/share/", views.RewardShareView.as_view(), name="reward-share"),
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]), name="docs"),
    re_path(r"^", views.not_found, name="not-found"),  # JSON 404 for any other /api/ path
]

"""Credit accounts: the list support searches, and the account page they work from."""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from ledger.models import OWNER_RELATIONS, CreditAccount
from ledger.selectors.accounts import account_ids_matching
from ledger.selectors.backoffice import (
    account_with_owner_get,
    entries_latest,
    entry_refundable,
    lots_active,
)

from .actions.views import AdjustBalance, GrantCredits, RefundDebit, VoidLot
from .base import BigTableAdmin, credits_html, search_words
from .exports import account_history_csv

#: Entries shown on the account page; the full history is the entries list.
LATEST_ENTRIES = 20
#: A search word's matching account ids are read first up to this many (see get_search_results).
SEARCH_IDS_READ = 1000


@admin.register(CreditAccount)
class CreditAccountAdmin(BigTableAdmin):
    list_display = ["id", "owner_display", "workspace", "balance_display", "total_earned", "total_spent",
                    "total_expired"]
    list_display_links = ["id", "owner_display"]
    list_filter = ["owner_kind", "workspace"]
    list_select_related = OWNER_RELATIONS
    # What the search box searches; get_search_results does it per owner table.
    search_fields = ["customer__email", "api_key__external_id", "identity__external_id", "workspace__slug",
                     "=customer__external_id"]
    search_help_text = "Product user email or id, API key id, identity, or workspace slug."
    ordering = ["-id"]
    sortable_by = ["id", "balance_display"]  # the indexed ones
    actions = ["grant_selected"]

    def get_search_results(self, request, queryset, search_term):
        """Every word of the search must match one of the owner fields (as the admin's own
        search), through selectors.accounts.account_ids_matching: per owner table, indexed.

        The matching ids are read first when they are few (a search usually finds a handful
        of accounts), so that the list is those rows by primary key; the planner, guessing
        how many a substring matches, would otherwise walk the whole id index to fill a page.
        """
        for word in search_words(search_term):
            matching = account_ids_matching(word)
            ids = list(matching[:SEARCH_IDS_READ + 1])
            queryset = queryset.filter(pk__in=ids if len(ids) <= SEARCH_IDS_READ else matching)
        return queryset, False

    @admin.display(description="Owner")
    def owner_display(self, obj):
        return format_html('{} <span class="pill">{}</span>', obj.owner, obj.get_owner_kind_display())

    @admin.display(description="Balance", ordering="balance")
    def balance_display(self, obj):
        debt = format_html(' <span class="credit-neg">(debt {})</span>', f"{obj.debt:,}") if obj.debt else ""
        return format_html("{}{}", credits_html(obj.balance, signed=False), debt)

    @admin.action(description="Grant credits to the selected account", permissions=["grant"])
    def grant_selected(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(request, "Select exactly one account to grant credits to.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:ledger_creditaccount_grant", args=[ids[0]]))

    def has_grant_permission(self, request):
        return request.user.has_perm("ledger.grant_credits")

    def has_add_permission(self, request):
        return False  # accounts are opened by the services, with their owner

    def has_change_permission(self, request, obj=None):
        return False  # balances change only through the actions on the account page

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        def view(cls):
            return self.admin_site.admin_view(cls.as_view(model_admin=self))

        return [
            path("<int:account_id>/grant/", view(GrantCredits), name="ledger_creditaccount_grant"),
            path("<int:account_id>/adjust/", view(AdjustBalance), name="ledger_creditaccount_adjust"),
            path("<int:account_id>/lots/<int:grant_id>/void/", view(VoidLot), name="ledger_creditaccount_void"),
            path("<int:account_id>/entries/<int:entry_id>/refund/", view(RefundDebit),
                 name="ledger_creditaccount_refund"),
            path("<int:account_id>/history.csv", self.admin_site.admin_view(self.history_csv_view),
                 name="ledger_creditaccount_history_csv"),
            *super().get_urls(),
        ]

    def history_csv_view(self, request, account_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        account = account_with_owner_get(account_id=account_id)
        if account is None:
            raise Http404("No such account")
        return account_history_csv(account)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The account page: balance card, active lots, latest entries, actions."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        account = account_with_owner_get(account_id=object_id)
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        user = request.user
        entries = entries_latest(account_id=account.pk, limit=LATEST_ENTRIES)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": account.owner_label,
            "account": account,
            "lots": list(lots_active(account_id=account.pk)),
            "entries": [(entry, entry_refundable(entry)) for entry in entries],
            "more_entries": len(entries) == LATEST_ENTRIES,
            "history_url": reverse("admin:ledger_ledgerentry_changelist") + f"?account={account.pk}",
            "can": {
                "grant": user.has_perm("ledger.grant_credits"),
                "adjust": user.has_perm("ledger.adjust_credits"),
                "void": user.has_perm("ledger.void_credits"),
                "refund": user.has_perm("ledger.refund_credits"),
            },
            "owner_link": self._owner_link(account),
        }
        return TemplateResponse(request, "admin/ledger/creditaccount/detail.html", context)

    def _owner_link(self, account):
        owner = account.owner
        url = reverse(f"admin:ledger_{owner._meta.model_name}_change", args=[owner.pk])
        return format_html('<a href="{}">{}</a>', url, owner)

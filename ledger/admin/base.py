"""Shared admin building blocks."""
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from .pagination import LargeTablePaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody, superusers included, adds, changes or deletes these rows in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BigTableAdmin(admin.ModelAdmin):
    """Changelists over tables that grow without bound: no full COUNT(*)."""

    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are a COUNT per filter choice
    list_per_page = 50


def search_words(search_term: str) -> list[str]:
    """The words of an admin search, split and unquoted as ModelAdmin.get_search_results does."""
    return [
        unescape_string_literal(bit) if bit[:1] in {'"', "'"} and bit[-1:] == bit[:1] and len(bit) > 1 else bit
        for bit in smart_split(search_term)
    ]


def credits_html(value: int, *, signed: bool = True):
    """An amount coloured by sign, for lists and pages."""
    css = "credit-pos" if value > 0 else "credit-neg" if value < 0 else "credit-zero"
    text = f"{value:+,}" if signed else f"{value:,}"
    return format_html('<span class="credit {}">{}</span>', css, text)


def account_link(account):
    url = reverse("admin:ledger_creditaccount_change", args=[account.pk])
    return format_html('<a class="nowrap" href="{}">#{} {}</a>', url, account.pk, account.owner)

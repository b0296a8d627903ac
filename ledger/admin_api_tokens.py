"""Admin for API tokens: issue (the raw token is shown once), list, revoke.

Registered from ``LedgerConfig.ready()``, apart from ``ledger/admin``, so it does not depend
on how the rest of the admin is laid out.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from .actors import Actor
from .exceptions import LedgerError
from .models import Ability, ApiToken
from .services.api_tokens import api_token_create, api_token_revoke


class ApiTokenAddForm(forms.ModelForm):
    abilities = forms.MultipleChoiceField(choices=Ability.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiToken
        fields = ["workspace", "name", "abilities"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "prefix", "abilities", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["workspace", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    list_select_related = ["workspace", "created_by"]
    readonly_fields = ["workspace", "name", "prefix", "abilities", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the token's row explains past requests

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The admin wraps this view in a transaction; issuing a token is a durable service,
        # so the add form skips that wrapper (changing a token is read-only anyway).
        return self._changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        issued = api_token_create(
            workspace_id=obj.workspace_id, name=obj.name, abilities=form.cleaned_data["abilities"],
            actor=Actor.staff(request.user),
        )
        obj.pk, obj.prefix, obj.created_at = issued.token.pk, issued.token.prefix, issued.token.created_at
        request._issued_token = issued

    def response_add(self, request, obj, post_url_continue=None):
        # The raw token is rendered once in this response, never put in a message (messages
        # travel in a cookie or the session).
        issued = request._issued_token
        context = {**self.admin_site.each_context(request), "token": issued.token, "raw": issued.raw,
                   "title": "API token issued", "opts": self.opts}
        return TemplateResponse(request, "admin/ledger/apitoken/issued.html", context)

    def save_related(self, request, form, formsets, change) -> None:
        pass  # the token has no related objects; the service saved everything

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        try:
            for token_id in queryset.values_list("pk", flat=True):
                api_token_revoke(token_id=token_id, actor=Actor.staff(request.user), reason="revoked in the admin")
        except LedgerError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        self.message_user(request, f"Revoked {queryset.count()} token(s).")

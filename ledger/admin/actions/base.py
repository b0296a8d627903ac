"""The form -> confirm -> do flow shared by every staff action.

GET shows the form with a fresh one-time idempotency key. POST validates it and shows a
confirmation page saying exactly what will happen, with the same data (and key) in hidden
fields. POST with ``step=do`` calls the service: a refusal (``ledger.exceptions``) becomes a
field error on the form and nothing is written; success is logged (Django LogEntry; the
service wrote the entry's actor and the audit event) and returns to the account page.
"""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import View

from ledger.actors import Actor
from ledger.exceptions import IdempotencyConflict, LedgerError
from ledger.selectors.backoffice import account_with_owner_get

from ..forms import idempotency_key_new

#: Service argument names that the forms call something else.
FIELD_ALIASES = {"expires_at": "expires_on"}


class ConfirmedAction(View):
    """Subclasses set ``permission``, ``form_class``, ``title``, ``submit_label`` and
    implement ``preview`` (rows for the confirmation page) and ``perform`` (the service)."""

    model_admin = None
    permission = ""
    form_class = None
    title = ""
    submit_label = "Confirm"
    form_template = "admin/ledger/actions/form.html"
    confirm_template = "admin/ledger/actions/confirm.html"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.actor = Actor.staff(request.user) if request.user.is_authenticated else None

    def dispatch(self, request, *args, **kwargs):
        if not all(request.user.has_perm(name) for name in self.required_permissions()):
            raise PermissionDenied
        self.load(**kwargs)
        return super().dispatch(request, *args, **kwargs)

    def required_permissions(self) -> list[str]:
        return [self.permission]

    def load(self, **kwargs) -> None:
        """Load the objects named in the URL (404 when missing)."""

    def form_kwargs(self) -> dict:
        return {}

    def get(self, request, *args, **kwargs):
        return self.render_form(self.form_class(**self.form_kwargs()))

    def post(self, request, *args, **kwargs):
        form = self.form_class(request.POST, **self.form_kwargs())
        step = request.POST.get("step")
        if not form.is_valid() or step == "edit":
            return self.render_form(form)
        if step != "do":
            return self.render_confirm(form)
        try:
            outcome = self.perform(form)
        except IdempotencyConflict:
            form = self.form_with_fresh_key(request)
            form.add_error(None, "This form was already used with other values. Check them and submit again.")
            return self.render_form(form)
        except LedgerError as error:
            field = FIELD_ALIASES.get(error.field, error.field)
            if field in form.fields:
                rule = getattr(error, "rule", error.message)  # InvalidInput: without the field name
                form.add_error(field, rule[:1].upper() + rule[1:])
            else:
                form.add_error(None, error.message)
            return self.render_form(form)
        return self.done(outcome)

    def form_with_fresh_key(self, request):
        data = request.POST.copy()
        data["idempotency_key"] = idempotency_key_new()
        form = self.form_class(data, **self.form_kwargs())
        form.is_valid()
        return form

    def done(self, outcome):
        """Log, tell the user and go back to the account page."""
        message, replayed = self.outcome_message(outcome)
        if replayed:
            messages.info(self.request, f"This form was already submitted; nothing new was written. {message}")
        else:
            self.model_admin.log_change(self.request, self.log_object(), message)
            messages.success(self.request, message)
        return HttpResponseRedirect(self.back_url())

    def back_url(self) -> str:
        raise NotImplementedError

    def log_object(self):
        raise NotImplementedError

    def context(self, **extra) -> dict:
        site = self.model_admin.admin_site
        return {
            **site.each_context(self.request),
            "opts": self.model_admin.model._meta,
            "title": self.title,
            "back_url": self.back_url(),
            "submit_label": self.submit_label,
            "action_subject": self.subject(),
            **extra,
        }

    def subject(self) -> str:
        return ""

    def render_form(self, form):
        return TemplateResponse(self.request, self.form_template, self.context(form=form))

    def render_confirm(self, form):
        preview = self.preview(form)
        return TemplateResponse(self.request, self.confirm_template, self.context(form=form, **preview))

    def preview(self, form) -> dict:
        raise NotImplementedError

    def perform(self, form):
        raise NotImplementedError

    def outcome_message(self, outcome) -> tuple[str, bool]:
        raise NotImplementedError


class AccountAction(ConfirmedAction):
    """An action on one account, named by ``account_id`` in the URL."""

    def required_permissions(self) -> list[str]:
        return ["ledger.view_creditaccount", self.permission]

    def load(self, **kwargs) -> None:
        self.account = account_with_owner_get(account_id=kwargs["account_id"])
        if self.account is None:
            raise Http404("No such account")

    def back_url(self) -> str:
        return reverse("admin:ledger_creditaccount_change", args=[self.account.pk])

    def log_object(self):
        return self.account

    def context(self, **extra) -> dict:
        return super().context(account=self.account, **extra)

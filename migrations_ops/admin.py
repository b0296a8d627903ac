"""Admin for migration runs: list, run page with live progress, actions, status view.

Thin: every action calls one service (``migrations_ops.services.runs``) or enqueues a
task; permissions ``run_migrations`` and ``rollback_migrations`` gate them.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils.html import format_html

from ledger.actors import Actor

from . import tasks
from .exceptions import MigrationOpsError
from .models import ACTIVE_STATUSES, RecordAction, Run, RunRecord, RunStatus
from .operations.registry import operation_get, operations_all
from .services import rollbacks, runs

RUN_PERM = "migrations_ops.run_migrations"
ROLLBACK_PERM = "migrations_ops.rollback_migrations"


def _progress_bar(run: Run) -> str:
    return format_html(
        '<div class="mo-bar" title="{}%"><div style="width:{}%"></div></div>', run.percent, run.percent
    )


class StartForm(forms.Form):
    operation = forms.ChoiceField()
    workspace = forms.CharField(required=False, help_text="Limit to one workspace (legacy id, e.g. ws_abc).")
    batch_size = forms.IntegerField(min_value=1, initial=runs.DEFAULT_BATCH_SIZE)
    throttle_ms = forms.IntegerField(min_value=0, initial=0)
    # Operation parameters besides the workspace (issue 8b: e.g. rate=1.5, uah_rate=0.025).
    parameters = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Operation parameters, one name=value per line (e.g. rate=1.5); the operation validates them.",
    )
    # issue 8a: expiry-backfill
    months = forms.CharField(required=False, help_text="expiry-backfill: months after the grant (default: policy).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["operation"].choices = [(op.name, f"{op.name}: {op.description}") for op in operations_all()]

    def clean_parameters(self) -> dict:
        params = {}
        for line in self.cleaned_data["parameters"].splitlines():
            if line.strip():
                name, sep, value = line.partition("=")
                if not sep or not name.strip():
                    raise forms.ValidationError(f"expected name=value, got {line.strip()!r}")
                params[name.strip()] = value.strip()
        return params


class RollbackForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    settle = forms.ChoiceField(required=False)

    def __init__(self, *args, settle_modes: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["settle"].choices = [("", "do not settle (refuse if credits were spent)")] + [
            (name, f"{name}: {meaning}") for name, meaning in settle_modes.items()
        ]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "operation", "kind", "status", "progress", "scanned", "changed", "skipped", "failed",
                    "actor", "created_at"]
    list_filter = ["operation", "status", "dry_run"]
    search_fields = ["operation", "actor"]
    list_per_page = 50
    change_list_template = "migrations_ops/run_change_list.html"

    # -- permissions: runs are written by the services only -----------------------------------

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(RUN_PERM) or super().has_view_permission(request, obj)

    @admin.display(description="kind")
    def kind(self, run: Run) -> str:
        return "dry run" if run.dry_run else "run"

    @admin.display(description="progress")
    def progress(self, run: Run) -> str:
        return _progress_bar(run)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("start/", view(self.start_view), name="migrations_ops_run_start"),
            path("status/", view(self.status_view), name="migrations_ops_run_status"),
            path("<int:run_id>/progress/", view(self.progress_view), name="migrations_ops_run_progress"),
            path("<int:run_id>/execute/", view(self.execute_view), name="migrations_ops_run_execute"),
            path("<int:run_id>/rollback/", view(self.rollback_view), name="migrations_ops_run_rollback"),
            re_path(r"^(?P<run_id>\d+)/(?P<action>pause|resume|cancel|verify)/$", view(self.action_view),
                    name="migrations_ops_run_action"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"start_url": reverse("admin:migrations_ops_run_start"),
                 "status_url": reverse("admin:migrations_ops_run_status"),
                 "can_run": request.user.has_perm(RUN_PERM)}
        return super().changelist_view(request, extra | (extra_context or {}))

    # -- pages ----------------------------------------------------------------------------------

    def _context(self, request, title: str, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title, **extra}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = get_object_or_404(Run.objects.select_related("plan", "started_by"), pk=object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        action = request.GET.get("action", "")
        records = run.records.order_by("pk")
        if action in RecordAction.values:
            records = records.filter(action=action)
        page = Paginator(records, 100).get_page(request.GET.get("page"))
        op = operation_get(run.operation)
        return TemplateResponse(request, "migrations_ops/run_detail.html", self._context(
            request, str(run), run=run, page=page, action=action, actions=RecordAction.choices, conserves=op.conserves,
            live=run.status in (RunStatus.PLANNED, RunStatus.RUNNING, RunStatus.ROLLING_BACK),
            can_run=request.user.has_perm(RUN_PERM), can_rollback=request.user.has_perm(ROLLBACK_PERM),
            progress_url=reverse("admin:migrations_ops_run_progress", args=[run.pk]),
        ))

    def progress_view(self, request, run_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(Run, pk=run_id)
        fields = ("status", "total", "scanned", "changed", "skipped", "failed", "batches", "error", "percent")
        data = {name: getattr(run, name) for name in fields}
        data["heartbeat_at"] = run.heartbeat_at.isoformat() if run.heartbeat_at else None
        return JsonResponse(data)

    def status_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        active = Run.objects.filter(dry_run=False, status__in=ACTIVE_STATUSES)
        return TemplateResponse(request, "migrations_ops/status.html", self._context(
            request, "Migration status", rows=runs.operations_status(), active=active,
        ))

    # -- actions --------------------------------------------------------------------------------

    def _require(self, request, perm: str) -> Actor:
        if not request.user.has_perm(perm):
            raise PermissionDenied
        return Actor.staff(request.user)

    def _back(self, run_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:migrations_ops_run_change", args=[run_id]))

    def _enqueue(self, run_id: int, request) -> None:
        user_id = request.user.pk
        transaction.on_commit(lambda: tasks.run_execute_task.delay(run_id, user_id))

    def start_view(self, request):
        """Start a dry run (the plan an execution is confirmed against)."""
        actor = self._require(request, RUN_PERM)
        form = StartForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                params = {"workspace": data["workspace"], **data["parameters"]}
                if data.get("months"):  # issue 8a: expiry-backfill
                    params["months"] = data["months"]
                preview = runs.run_preview(operation=data["operation"], params=params, execute=False)
                with transaction.atomic():
                    run = runs.run_create(preview=preview, actor=actor, dry_run=True, options=runs.options_clean(
                        batch_size=data["batch_size"], throttle_ms=data["throttle_ms"]))
                    self._enqueue(run.pk, request)
            except MigrationOpsError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, f"Dry run #{run.pk} queued.")
                return self._back(run.pk)
        return TemplateResponse(request, "migrations_ops/run_start.html", self._context(
            request, "Start a dry run", form=form,
        ))

    def execute_view(self, request, run_id):
        """Confirm and queue the execution of a finished dry run's plan (refused if stale)."""
        actor = self._require(request, RUN_PERM)
        plan = get_object_or_404(Run, pk=run_id, dry_run=True)
        force = request.POST.get("force") == "on"
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            try:
                preview = runs.run_preview(operation=plan.operation, params=plan.params, execute=True, force=force)
                with transaction.atomic():
                    run = runs.run_create(preview=preview, actor=actor, dry_run=False, options=plan.options,
                                          force=force, plan_id=plan.pk)
                    self._enqueue(run.pk, request)
            except MigrationOpsError as error:
                messages.error(request, error.message)
                return self._back(plan.pk)
            messages.success(request, f"Run #{run.pk} queued; this page follows its progress.")
            return self._back(run.pk)
        check = operation_get(plan.operation).check(params=plan.params, execute=True, force=False)
        return TemplateResponse(request, "migrations_ops/run_confirm.html", self._context(
            request, f"Execute {plan.operation}", run=plan, summary=plan.summary(), check=check, mode="execute",
        ))

    def rollback_view(self, request, run_id):
        """Confirm a rollback with a reason; shows the rows whose credits were spent."""
        actor = self._require(request, ROLLBACK_PERM)
        run = get_object_or_404(Run, pk=run_id)
        form = RollbackForm(request.POST or None, settle_modes=operation_get(run.operation).settle_modes)
        try:
            plan = rollbacks.run_rollback_plan(run_id=run.pk, settle=request.POST.get("settle") or None)
        except MigrationOpsError as error:
            messages.error(request, error.message)
            return self._back(run.pk)
        if request.method == "POST" and form.is_valid() and not plan.blockers:
            data = form.cleaned_data
            settle, reason, user_id = data["settle"] or None, data["reason"], actor.user_id
            transaction.on_commit(lambda: tasks.run_rollback_task.delay(run.pk, user_id, reason, settle))
            messages.success(request, f"Rollback of run #{run.pk} queued.")
            return self._back(run.pk)
        return TemplateResponse(request, "migrations_ops/run_confirm.html", self._context(
            request, f"Roll back run #{run.pk}", run=run, summary=run.summary(), plan=plan, form=form, mode="rollback",
        ))

    def action_view(self, request, run_id, action):
        """POST-only pause, resume, cancel and verify."""
        run_id = int(run_id)
        if request.method != "POST":
            return self._back(run_id)
        actor = self._require(request, RUN_PERM)
        try:
            if action == "pause":
                runs.run_pause(run_id=run_id, actor=actor)
                messages.success(request, f"Run #{run_id} pauses after its current batch.")
            elif action == "cancel":
                runs.run_cancel(run_id=run_id, actor=actor, reason=request.POST.get("reason") or "cancelled in the admin")
                messages.success(request, f"Run #{run_id} cancelled.")
            elif action == "resume":
                get_object_or_404(Run, pk=run_id, status__in=[RunStatus.PAUSED, RunStatus.FAILED, RunStatus.RUNNING])
                self._enqueue(run_id, request)
                messages.success(request, f"Run #{run_id} queued to resume from its cursor.")
            else:
                problems = runs.run_verify(run_id=run_id, actor=actor)
                for problem in problems[:20]:
                    messages.warning(request, problem)
                if not problems:
                    messages.success(request, "Verified: no problems.")
        except MigrationOpsError as error:
            messages.error(request, error.message)
        return self._back(run_id)


@admin.register(RunRecord)
class RunRecordAdmin(admin.ModelAdmin):
    """Read-only list of every record, searchable by row key (the run page shows its own)."""

    list_display = ["id", "run", "row_key", "action", "message", "reverted_at"]
    list_filter = ["action"]
    search_fields = ["row_key"]
    raw_id_fields = ["run"]
    list_select_related = ["run"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

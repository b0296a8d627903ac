"""API views: parse with a serializer, call one service or selector, render.

Every view works inside the token's workspace: ids of another workspace's accounts, grants
or entries answer 404 exactly like ids that do not exist. Writes are ``@idempotent``.
"""
from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from ..actors import Actor
from ..models import Ability
from ..selectors import accounts as account_selectors
from ..selectors import usage as usage_selectors
from ..services import customers, debits, grants, rewards, usage
from . import schema
from . import serializers as s
from .errors import error_body
from .idempotency import idempotent


class WorkspaceView(APIView):
    """Base of every API view: the token's workspace and its actor."""

    @property
    def workspace_id(self) -> int:
        return self.request.auth.workspace_id

    @property
    def actor(self) -> Actor:
        token = self.request.auth
        return Actor.api(f"{token.name} ({token.prefix})")

    @staticmethod
    def parse(serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def created(result, out_class, instance=None) -> Response:
    """201 for a new write, 200 when the ledger replayed an earlier one (``instance``: what
    to render, when not the result itself)."""
    code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
    return Response(out_class(result if instance is None else instance).data, status=code)


class EntriesPagination(CursorPagination):
    """Keyset pagination by id, newest first: stable while rows are appended."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = False
        if cursor is False or (cursor is not None and cursor.position is not None and not cursor.position.isdigit()):
            raise ValidationError({"cursor": ["Invalid cursor."]})
        return cursor


@schema.account_lookup
class AccountLookupView(WorkspaceView):
    """Find an account by its owner: a product user, API key or identity by your external id, or the workspace."""

    abilities = {"GET": Ability.READ}

    def get(self, request):
        query = self.parse(s.AccountLookupQuery, request.query_params)
        account = account_selectors.account_by_owner_get(workspace_id=self.workspace_id, **query)
        return Response(s.AccountOut(account).data)


@schema.account_balance
class AccountBalanceView(WorkspaceView):
    """The account's balance, what a debit may take now, its totals, and the credits its lots lose within the window."""

    abilities = {"GET": Ability.READ}

    def get(self, request, account_id: int):
        query = self.parse(s.BalanceQuery, request.query_params)
        balance = account_selectors.account_balance_get(
            account_id=account_id, workspace_id=self.workspace_id, **query
        )
        return Response(s.BalanceOut(balance).data)


@schema.account_entries
class AccountEntriesView(WorkspaceView):
    """The account's ledger entries, newest first, keyset-paginated; filter by type and creation time."""

    abilities = {"GET": Ability.READ}
    pagination_class = EntriesPagination

    def get(self, request, account_id: int):
        params = request.query_params
        query = self.parse(s.EntriesQuery, {**params.dict(), "type": params.getlist("type")})
        entries = account_selectors.entries_list(
            account_id=account_id, workspace_id=self.workspace_id,
            types=query.get("type"), created_after=query.get("created_after"),
            created_before=query.get("created_before"),
        )
        return paginated(self, entries, s.EntryOut)


@schema.grant_create
class GrantCreateView(WorkspaceView):
    """Grant credits as a new lot, once per Idempotency-Key; any debt is paid from it first."""

    abilities = {"POST": Ability.GRANT}

    @idempotent
    def post(self, request, account_id: int):
        data = self.parse(s.GrantCreateIn, request.data)
        data.setdefault("expires_at", grants.EXPIRY_FROM_POLICY)
        result = grants.grant_create(
            account_id=account_id, workspace_id=self.workspace_id, actor=self.actor,
            idempotency_key=request.idempotency_key, **data,
        )
        return created(result, s.GrantResultOut)


@schema.grant_void
class GrantVoidView(WorkspaceView):
    """Void what is left of a grant, with an entry for the unspent remainder; voiding twice changes nothing."""

    abilities = {"POST": Ability.GRANT}

    @idempotent
    def post(self, request, account_id: int, grant_id: int):
        data = self.parse(s.ReasonIn, request.data)
        result = grants.grant_void(
            grant_id=grant_id, account_id=account_id, workspace_id=self.workspace_id,
            actor=self.actor, idempotency_key=request.idempotency_key, **data,
        )
        return Response(s.GrantResultOut(result).data)


@schema.debit_create
class DebitCreateView(WorkspaceView):
    """Spend credits, drawing lots by priority, earliest expiry, then age; 402 when the account cannot cover it."""

    abilities = {"POST": Ability.DEBIT}

    @idempotent
    def post(self, request, account_id: int):
        data = self.parse(s.DebitCreateIn, request.data)
        result = debits.debit_create(
            account_id=account_id, workspace_id=self.workspace_id, actor=self.actor,
            idempotency_key=request.idempotency_key, **data,
        )
        return created(result, s.DebitOut)


@schema.refund_create
class RefundCreateView(WorkspaceView):
    """Give back all or part of a debit into the lots it was drawn from."""

    abilities = {"POST": Ability.DEBIT}

    @idempotent
    def post(self, request, account_id: int, entry_id: int):
        data = self.parse(s.RefundCreateIn, request.data)
        result = debits.refund_create(
            debit_entry_id=entry_id, account_id=account_id, workspace_id=self.workspace_id,
            actor=self.actor, idempotency_key=request.idempotency_key, **data,
        )
        return created(result, s.RefundOut)


@schema.customer_signup
class CustomerSignupView(WorkspaceView):
    """Sign up a product user: creates them and their account with the initial credits, once per external id."""

    abilities = {"POST": Ability.GRANT}

    @idempotent
    def post(self, request):
        data = self.parse(s.CustomerSignupIn, request.data)
        signup = customers.customer_signup(workspace_id=self.workspace_id, actor=self.actor, **data)
        code = status.HTTP_201_CREATED if signup.created else status.HTTP_200_OK
        return Response(s.SignupOut(signup).data, status=code)


def paginated(view, queryset, out_class) -> Response:
    paginator = EntriesPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(out_class(page, many=True).data)


@schema.tasks
class TasksView(WorkspaceView):
    """GET: the account's usage tasks, newest first, keyset-paginated, filtered by status.
    POST: accept a task after a soft balance check; with an estimate, hold its price."""

    abilities = {"GET": Ability.READ, "POST": Ability.COMPLETE_TASKS}
    pagination_class = EntriesPagination

    def get(self, request, account_id: int):
        query = self.parse(s.TasksQuery, {"status": request.query_params.getlist("status")})
        tasks = usage_selectors.tasks_list(account_id=account_id, workspace_id=self.workspace_id,
                                           statuses=query.get("status"))
        return paginated(self, tasks, s.TaskOut)

    @idempotent
    def post(self, request, account_id: int):
        data = self.parse(s.TaskCreateIn, request.data)
        result = usage.task_create(account_id=account_id, workspace_id=self.workspace_id, actor=self.actor, **data)
        return created(result, s.TaskOut, result.task)


@schema.task_get
class TaskView(WorkspaceView):
    """A task: its status, duration, price, whether it was charged, its shortfall and hold."""

    abilities = {"GET": Ability.READ}

    def get(self, request, account_id: int, task_id: int):
        task = usage_selectors.task_get(task_id=task_id, account_id=account_id, workspace_id=self.workspace_id)
        return Response(s.TaskOut(task).data)


@schema.task_complete
class TaskCompleteView(WorkspaceView):
    """The completion callback: price the actual duration and charge it exactly once."""

    abilities = {"POST": Ability.COMPLETE_TASKS}

    @idempotent
    def post(self, request, account_id: int, task_id: int):
        data = self.parse(s.TaskCompleteIn, request.data)
        result = usage.task_complete(task_id=task_id, account_id=account_id, workspace_id=self.workspace_id,
                                     actor=self.actor, **data)
        return Response(s.TaskOut(result.task).data)


@schema.task_fail
class TaskFailView(WorkspaceView):
    """Mark a task failed and release its hold: a failed task is never charged."""

    abilities = {"POST": Ability.COMPLETE_TASKS}

    @idempotent
    def post(self, request, account_id: int, task_id: int):
        data = self.parse(s.TaskFailIn, request.data)
        result = usage.task_fail(task_id=task_id, account_id=account_id, workspace_id=self.workspace_id,
                                 actor=self.actor, **data)
        return Response(s.TaskOut(result.task).data)


def rewarded(result) -> Response:
    """201 with the grant when credits were granted; 200 saying why when nothing was."""
    code = status.HTTP_201_CREATED if result.granted else status.HTTP_200_OK
    return Response(s.RewardOut(result).data, status=code)


@schema.reward_sign_in
class RewardSignInView(WorkspaceView):
    """Reward the account's product user for signing in, once per day in the workspace's time zone."""

    abilities = {"POST": Ability.GRANT}

    @idempotent
    def post(self, request, account_id: int):
        self.parse(s.SignInIn, request.data)
        return rewarded(rewards.reward_daily_signin(account_id=account_id, workspace_id=self.workspace_id,
                                                    actor=self.actor))


@schema.reward_invite
class RewardInviteView(WorkspaceView):
    """Reward the account's product user for inviting another, once per invited user."""

    abilities = {"POST": Ability.GRANT}

    @idempotent
    def post(self, request, account_id: int):
        data = self.parse(s.InviteIn, request.data)
        return rewarded(rewards.reward_invite(account_id=account_id, workspace_id=self.workspace_id,
                                              actor=self.actor, **data))


@schema.reward_share
class RewardShareView(WorkspaceView):
    """Reward the account's product user for sharing an object, once per object, up to the daily cap."""

    abilities = {"POST": Ability.GRANT}

    @idempotent
    def post(self, request, account_id: int):
        data = self.parse(s.ShareIn, request.data)
        return rewarded(rewards.reward_share(account_id=account_id, workspace_id=self.workspace_id,
                                             actor=self.actor, **data))


@csrf_exempt  # like the API views: token-authenticated, no cookies
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Any /api/ path that matches no endpoint: 404 in the API's error shape, not HTML."""
    return JsonResponse(error_body(code="not_found", message=f"No endpoint at {request.path}."), status=404)

"""OpenAPI documentation of each endpoint: parameters, responses and examples.

Kept apart from the views so that a view reads as parse, call, render.
"""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample as Example
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view

from ..models import EntryType, UsageStatus
from . import serializers as s


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ledger.api.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API token of your workspace, issued in the admin: `cs_<prefix>_<secret>`."}


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description="Unique per write (1-200 printable ASCII characters). A retry with the same key "
                "and body returns the first response; the same key with another body is 422.",
    pattern=r"^[\x20-\x7e]{1,200}$",
)
ACCOUNT_ID = OpenApiParameter("account_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                              description="Id of an account of your workspace.")

TIME = "2026-11-22T09:30:00Z"
ENTRY = {
    "id": 981, "seq": 7, "type": "debit", "amount": -120, "balance_before": 500, "balance_after": 380,
    "grant_id": None, "refund_of": None, "source": "render", "source_id": "job-42",
    "description": "Video render, 12 s", "actor": "api:render worker (1a2b3c4d)",
    "idempotency_key": "job-42-charge", "created_at": TIME,
}
GRANT = {
    "id": 311, "account_id": 17, "kind": "purchase", "amount": 1000, "remaining": 1000, "priority": 50,
    "effective_from": TIME, "expires_at": "2027-05-22T09:30:00Z", "voided_at": None, "reason": "",
    "source": "order", "source_id": "ord_5521", "created_at": TIME,
}
ACCOUNT = {"id": 17, "owner_kind": "customer", "owner_external_id": "user-8812", "balance": 380,
           "debt": 0, "overdraft_limit": 0, "created_at": TIME}


def error(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def err(status: int, code: str, message: str, fields: dict | None = None, serializer=s.ErrorOut, **extra):
    return OpenApiResponse(serializer, description=message, examples=[
        Example(code, value=error(code, message, fields, **extra), response_only=True, status_codes=[str(status)]),
    ])


#: Errors every endpoint may answer.
COMMON = {
    401: err(401, "unauthenticated", "Invalid or revoked token."),
    403: err(403, "forbidden", "This token does not have the 'read' ability this call needs."),
    429: err(429, "throttled", "Request was throttled. Expected available in 12 seconds."),
}
NOT_FOUND = {404: err(404, "account_not_found", "account '99' does not exist", {"account": ["account '99' does not exist"]})}
WRITE = {
    **COMMON, **NOT_FOUND,
    400: err(400, "invalid", "amount: Ensure this value is greater than or equal to 1.",
             {"amount": ["Ensure this value is greater than or equal to 1."]}),
    422: err(422, "idempotency_conflict",
             "Idempotency-Key 'job-42-charge' was already used for another request.",
             {"Idempotency-Key": ["Already used with a different request."]}),
}


def ok(serializer, value: dict, status: int = 200, description: str = "") -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description, examples=[
        Example("ok", value=value, response_only=True, status_codes=[str(status)]),
    ])


def request(name: str, value: dict) -> Example:
    return Example(name, value=value, request_only=True)


account_lookup = extend_schema(
    summary="Find an account by its owner", tags=["accounts"],
    parameters=[s.AccountLookupQuery],
    responses={200: ok(s.AccountOut, ACCOUNT), **COMMON, **NOT_FOUND,
               400: err(400, "invalid", "owner_kind: This field is required.", {"owner_kind": ["This field is required."]})},
    examples=[Example("product user", value=ACCOUNT, response_only=True)],
)

account_balance = extend_schema(
    summary="Balance, what may be spent now, totals and credits expiring soon", tags=["accounts"],
    parameters=[ACCOUNT_ID, s.BalanceQuery],
    responses={
        200: ok(s.BalanceOut, {
            "account_id": 17, "balance": 380, "available": 380, "debt": 0, "overdraft_limit": 0,
            "totals": {"earned": 1100, "spent": 720, "expired": 0},
            "expiring": {"within_days": 30, "until": "2026-12-22T09:30:00Z", "credits": 80, "lots": [
                {"grant_id": 300, "kind": "signup", "remaining": 80, "expires_at": "2026-12-01T00:00:00Z"}]},
        }),
        **COMMON, **NOT_FOUND,
        400: err(400, "invalid", "expiring_within_days: A valid integer is required.",
                 {"expiring_within_days": ["A valid integer is required."]}),
    },
)

account_entries = extend_schema(
    summary="The account's entries, newest first (cursor pagination)", tags=["accounts"],
    parameters=[
        ACCOUNT_ID,
        OpenApiParameter("type", OpenApiTypes.STR, many=True, explode=True, enum=EntryType.values,
                         description="Only entries of these types (repeat the parameter for several)."),
        OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Inclusive."),
        OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Exclusive."),
    ],
    responses={
        # One item: drf-spectacular wraps it in the page shape (next, previous, results).
        200: OpenApiResponse(s.EntryOut(many=True), examples=[Example("page", response_only=True, value=ENTRY)]),
        **COMMON, **NOT_FOUND,
        400: err(400, "invalid", "type.0: \"bonus\" is not a valid choice.", {"type.0": ["\"bonus\" is not a valid choice."]}),
    },
)

grant_create = extend_schema(
    summary="Grant credits as a new lot", tags=["grants"],
    parameters=[ACCOUNT_ID, IDEMPOTENCY_KEY], request=s.GrantCreateIn,
    examples=[request("purchase", {"amount": 1000, "kind": "purchase", "source": "order", "source_id": "ord_5521"}),
              request("manual, never expires", {"amount": 50, "kind": "manual", "reason": "Goodwill for outage #12",
                                                "expires_at": None})],
    responses={201: ok(s.GrantResultOut, {"grant": GRANT, "entry": {
        **ENTRY, "type": "grant", "amount": 1000, "balance_before": 380, "balance_after": 1380, "grant_id": 311,
        "source": "order", "source_id": "ord_5521", "description": "Purchase grant"}}, 201), **WRITE},
)

grant_void = extend_schema(
    summary="Void what is left of a grant", tags=["grants"],
    parameters=[ACCOUNT_ID, OpenApiParameter("grant_id", OpenApiTypes.INT, OpenApiParameter.PATH), IDEMPOTENCY_KEY],
    request=s.ReasonIn, examples=[request("void", {"reason": "Order ord_5521 was charged back"})],
    responses={200: ok(s.GrantResultOut, {
        "grant": {**GRANT, "remaining": 0, "voided_at": TIME},
        "entry": {**ENTRY, "type": "void", "amount": -1000, "balance_before": 1380, "balance_after": 380,
                  "grant_id": 311, "description": "Void of grant #311: Order ord_5521 was charged back"}}),
        **WRITE, 409: err(409, "invalid_state", "grant 311 has expired; there is nothing left to void",
                          {"grant": ["grant 311 has expired; there is nothing left to void"]})},
)

debit_create = extend_schema(
    summary="Spend credits", tags=["debits"],
    parameters=[ACCOUNT_ID, IDEMPOTENCY_KEY], request=s.DebitCreateIn,
    examples=[request("usage", {"amount": 120, "description": "Video render, 12 s", "source": "render",
                                "source_id": "job-42"})],
    responses={
        201: ok(s.DebitOut, {"entry": ENTRY, "allocations": [{"grant_id": 300, "amount": 120, "refunded": 0}]}, 201),
        **WRITE,
        402: err(402, "insufficient_credits",
                 "account 17 has insufficient credits: balance 80, available 80, asked 120",
                 {"amount": ["account 17 has insufficient credits: balance 80, available 80, asked 120"]},
                 serializer=s.InsufficientOut, balance=80, available=80, amount=120),
    },
)

refund_create = extend_schema(
    summary="Give back all or part of a debit, into the lots it came from", tags=["debits"],
    parameters=[ACCOUNT_ID, OpenApiParameter("entry_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                             description="The debit entry."), IDEMPOTENCY_KEY],
    request=s.RefundCreateIn,
    examples=[request("partial", {"amount": 20, "reason": "Render failed after 10 s"})],
    responses={201: ok(s.RefundOut, {"entry": {
        **ENTRY, "id": 990, "seq": 8, "type": "refund", "amount": 20, "balance_before": 380, "balance_after": 400,
        "refund_of": 981, "description": "Refund of entry #981: Render failed after 10 s"}}, 201),
        **WRITE, 409: err(409, "invalid_state", "entry 311 is a grant, not a debit", {"entry": ["entry 311 is a grant, not a debit"]})},
)

customer_signup = extend_schema(
    summary="Sign up a product user: opens their account with the initial credits, once", tags=["customers"],
    parameters=[IDEMPOTENCY_KEY], request=s.CustomerSignupIn,
    examples=[request("signup", {"external_id": "user-8812", "email": "ada@example.com"})],
    responses={
        201: ok(s.SignupOut, {"created": True, "customer": {"id": 5, "external_id": "user-8812",
                                                             "email": "ada@example.com", "created_at": TIME},
                              "account": {**ACCOUNT, "balance": 100}}, 201,
                "New user; 200 with created=false when the external id was already signed up."),
        200: ok(s.SignupOut, {"created": False, "customer": {"id": 5, "external_id": "user-8812",
                                                              "email": "ada@example.com", "created_at": TIME},
                              "account": ACCOUNT}, 200, "Already signed up: nothing granted."),
        **{k: v for k, v in WRITE.items() if k != 404},
    },
)


TASK_ID = OpenApiParameter("task_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Id of a task of this account.")
TASK = {
    "id": 4410, "account_id": 17, "external_id": "job-42", "tier": "pro", "status": "pending", "created_at": TIME,
    "completed_at": None, "estimated_duration_seconds": "10.000", "duration_seconds": None,
    "credits_calculated": None, "credits_deducted": False, "shortfall": 0, "charge_entry_id": None,
    "hold": {"amount": 140, "active": True, "expires_at": "2026-11-22T10:30:00Z", "released_at": None},
    "failure_reason": "",
}
TASK_DONE = {
    **TASK, "status": "succeeded", "completed_at": "2026-11-22T09:30:12Z", "duration_seconds": "8.500",
    "credits_calculated": 119, "credits_deducted": True, "charge_entry_id": 985,
    "hold": {**TASK["hold"], "active": False, "released_at": "2026-11-22T09:30:12Z"},
}
TASK_NOT_FOUND = {404: err(404, "not_found", "task 4411 does not exist", {"task": ["task 4411 does not exist"]})}
TASK_FAILED = err(409, "invalid_state", "task 4410 failed; a failed task is never charged",
                  {"task": ["task 4410 failed; a failed task is never charged"]})

tasks = extend_schema_view(
    get=extend_schema(
        summary="The account's usage tasks, newest first (cursor pagination)", tags=["tasks"],
        operation_id="accounts_tasks_list",
        parameters=[ACCOUNT_ID, OpenApiParameter(
            "status", OpenApiTypes.STR, many=True, explode=True, enum=UsageStatus.values,
            description="Only tasks in these statuses (repeat the parameter for several).")],
        responses={
            200: OpenApiResponse(s.TaskOut(many=True), examples=[Example("page", response_only=True, value=TASK_DONE)]),
            **COMMON, **NOT_FOUND,
            400: err(400, "invalid", "status.0: \"done\" is not a valid choice.", {"status.0": ["\"done\" is not a valid choice."]}),
        },
    ),
    post=extend_schema(
        summary="Accept a usage task after a soft balance check; optionally hold an estimate", tags=["tasks"],
        parameters=[ACCOUNT_ID, IDEMPOTENCY_KEY], request=s.TaskCreateIn,
        examples=[request("with a hold", {"tier": "pro", "external_id": "job-42", "estimated_duration_seconds": 10}),
                  request("soft check only", {"tier": "standard"})],
        responses={
            201: ok(s.TaskOut, TASK, 201, "New task; 200 with the first task when its external_id was already used."),
            200: ok(s.TaskOut, TASK, 200, "A task with this external_id exists: it is returned, nothing is written."),
            **WRITE,
            402: err(402, "insufficient_credits",
                     "account 17 has insufficient credits: balance 0, available 0, asked 1",
                     {"amount": ["account 17 has insufficient credits: balance 0, available 0, asked 1"]},
                     serializer=s.InsufficientOut, balance=0, available=0, amount=1),
            409: err(409, "task_conflict",
                     "task 4410 was already created with external id 'job-42' and other parameters (account, tier or estimate)",
                     {"external_id": ["task 4410 was already created with external id 'job-42' and other parameters "
                                      "(account, tier or estimate)"]}),
        },
    ),
)

task_get = extend_schema(
    summary="A task: status, duration, price, charged or not, shortfall, hold", tags=["tasks"],
    parameters=[ACCOUNT_ID, TASK_ID],
    responses={200: ok(s.TaskOut, TASK_DONE), **COMMON, **TASK_NOT_FOUND},
)

task_complete = extend_schema(
    summary="Complete a task: its actual duration is priced and charged exactly once", tags=["tasks"],
    parameters=[ACCOUNT_ID, TASK_ID, IDEMPOTENCY_KEY], request=s.TaskCompleteIn,
    examples=[request("8.5 s", {"duration_seconds": "8.5"})],
    responses={
        200: ok(s.TaskOut, TASK_DONE, 200, "Charged; delivered again, the same task and no second charge."),
        **WRITE, **TASK_NOT_FOUND,
        409: OpenApiResponse(s.ErrorOut, description="The task failed, or already completed with another duration.",
                             examples=[
            Example("failed", value=error("invalid_state", "task 4410 failed; a failed task is never charged",
                                          {"task": ["task 4410 failed; a failed task is never charged"]}),
                    response_only=True, status_codes=["409"]),
            Example("other duration", response_only=True, status_codes=["409"], value=error(
                "task_conflict", "task 4410 already completed with 8.500 s; a completion with 9.000 s is refused",
                {"duration_seconds": ["task 4410 already completed with 8.500 s; a completion with 9.000 s is refused"]})),
        ]),
    },
)

task_fail = extend_schema(
    summary="Fail a task: it is never charged and its hold is released", tags=["tasks"],
    parameters=[ACCOUNT_ID, TASK_ID, IDEMPOTENCY_KEY], request=s.TaskFailIn,
    examples=[request("crash", {"reason": "renderer crashed"})],
    responses={
        200: ok(s.TaskOut, {**TASK, "status": "failed", "completed_at": "2026-11-22T09:30:05Z",
                            "failure_reason": "renderer crashed",
                            "hold": {**TASK["hold"], "active": False, "released_at": "2026-11-22T09:30:05Z"}}),
        **WRITE, **TASK_NOT_FOUND,
        409: err(409, "invalid_state", "task 4410 already succeeded", {"task": ["task 4410 already succeeded"]}),
    },
)

REWARD_GRANT = {**GRANT, "id": 320, "kind": "daily_signin", "amount": 10, "remaining": 10, "source": "reward:daily_signin",
                "source_id": "2026-11-22", "reason": ""}
REWARD_ENTRY = {**ENTRY, "id": 1002, "type": "grant", "amount": 10, "balance_before": 380, "balance_after": 390,
                "grant_id": 320, "source": "reward:daily_signin", "source_id": "2026-11-22",
                "description": "Daily sign-in reward 2026-11-22", "idempotency_key": "reward:daily_signin:2026-11-22"}
NOT_A_USER = {409: err(409, "invalid_state", "account 18 is not a product user's account; rewards go to product users",
                       {"account": ["account 18 is not a product user's account; rewards go to product users"]})}


def reward(summary: str, serializer, examples: list, granted: dict, nothing: dict) -> object:
    return extend_schema(
        summary=summary, tags=["rewards"], parameters=[ACCOUNT_ID, IDEMPOTENCY_KEY], request=serializer,
        examples=examples,
        responses={
            201: ok(s.RewardOut, granted, 201, "Granted: the new lot and its entry."),
            200: ok(s.RewardOut, nothing, 200, "Nothing granted; `reason` says why (already rewarded, cap, policy 0)."),
            **WRITE, **NOT_A_USER,
        },
    )


reward_sign_in = reward(
    # No fields, but documented as an (empty) JSON object so clients send ``{}``.
    "Daily sign-in reward: once per day in the workspace's time zone", OpenApiTypes.OBJECT, [request("sign-in", {})],
    {"granted": True, "replayed": False, "reason": "", "grant": REWARD_GRANT, "entry": REWARD_ENTRY},
    {"granted": False, "replayed": True, "reason": "already rewarded", "grant": REWARD_GRANT, "entry": REWARD_ENTRY},
)

reward_invite = reward(
    "Invite reward: once per invited product user, to the first inviter", s.InviteIn,
    [request("invite", {"invited_external_id": "user-9001"})],
    {"granted": True, "replayed": False, "reason": "",
     "grant": {**REWARD_GRANT, "kind": "invite", "amount": 100, "remaining": 100, "source": "reward:invite", "source_id": "77"},
     "entry": {**REWARD_ENTRY, "amount": 100, "balance_after": 480, "source": "reward:invite", "source_id": "77",
               "description": "Invite reward for inviting user-9001", "idempotency_key": "reward:invite:77"}},
    {"granted": False, "replayed": False, "reason": "another inviter was already rewarded for this user",
     "grant": None, "entry": None},
)

reward_share = reward(
    "Share reward: once per shared object, up to the daily cap", s.ShareIn,
    [request("share", {"object_id": "video-311"})],
    {"granted": True, "replayed": False, "reason": "",
     "grant": {**REWARD_GRANT, "kind": "share", "source": "reward:share", "source_id": "video-311"},
     "entry": {**REWARD_ENTRY, "source": "reward:share", "source_id": "video-311",
               "description": "Share reward for video-311", "idempotency_key": "reward:share:video-311"}},
    {"granted": False, "replayed": False, "reason": "daily share cap reached", "grant": None, "entry": None},
)

"""One error shape for the whole API: ``{"error": {"code", "message", "fields"}}``.

Ledger refusals (``ledger.exceptions``) and DRF's own errors are rendered here, so a view
never builds an error response by hand.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .. import exceptions as ledger

#: HTTP status of each ledger refusal; the most specific class wins.
LEDGER_STATUS = (
    (ledger.InsufficientCredits, status.HTTP_402_PAYMENT_REQUIRED),
    (ledger.TaskConflict, status.HTTP_409_CONFLICT),  # the task's state, not a reused key
    (ledger.IdempotencyConflict, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (ledger.AccountNotFound, status.HTTP_404_NOT_FOUND),
    (ledger.NotFound, status.HTTP_404_NOT_FOUND),
    (ledger.InvalidState, status.HTTP_409_CONFLICT),
    (ledger.InvalidInput, status.HTTP_400_BAD_REQUEST),
    (ledger.LedgerError, status.HTTP_400_BAD_REQUEST),
)

#: Stable codes of DRF's errors, by class.
DRF_CODES = {
    drf.ValidationError: "invalid",
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "unauthenticated",
    drf.NotAuthenticated: "unauthenticated",
    drf.PermissionDenied: "forbidden",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
}


class ApiError(drf.APIException):
    """An error the API layer itself raises (e.g. a missing Idempotency-Key header)."""

    def __init__(self, *, status_code: int, code: str, message: str, fields: dict | None = None) -> None:
        super().__init__(message, code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}


def error_body(*, code: str, message: str, fields: dict | None = None, **extra: object) -> dict:
    """Return the one error shape."""
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _flatten(detail: object, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"field" or "field.sub": [messages]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for name, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{name}" if prefix else str(name)))
        return out
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(message) for message in messages]}


def ledger_error_response(exc: ledger.LedgerError) -> Response:
    code = next(code for cls, code in LEDGER_STATUS if isinstance(exc, cls))
    fields = {exc.field: [getattr(exc, "rule", exc.message)]} if exc.field else {}
    extra = {}
    if isinstance(exc, ledger.InsufficientCredits):
        extra = {"balance": exc.balance, "available": exc.available, "amount": exc.amount}
    return Response(error_body(code=exc.code, message=exc.message, fields=fields, **extra), status=code)


def drf_error_response(exc: drf.APIException) -> Response:
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, ApiError):
        body = error_body(code=exc.error_code, message=str(exc.detail), fields=exc.fields)
    elif isinstance(exc, drf.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()))
        body = error_body(code="invalid", message=f"{first[0]}: {first[1][0]}", fields=fields)
    else:
        code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
        body = error_body(code=code, message=str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF EXCEPTION_HANDLER: render ledger and DRF errors in the one shape; anything else
    is a bug and propagates (500)."""
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, ledger.LedgerError):
        response = ledger_error_response(exc)
    elif isinstance(exc, drf.APIException):
        response = drf_error_response(exc)
    else:
        return None
    set_rollback()
    return response

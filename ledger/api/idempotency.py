"""``Idempotency-Key`` on every write: a retry returns the first response and writes nothing.

A write view decorates its handler with :func:`idempotent`. The first request with a key
runs the handler and keeps its response (status and body) in ``IdempotentResponse``; a
retry with the same key, method, path and body gets that response back unchanged (with the
header ``Idempotent-Replayed: true``) and the handler does not run; the same key with
another request is refused with 422. Keys are scoped to the token's workspace.

Two identical requests racing: on PostgreSQL the key is guarded by a session advisory lock
for the duration of the request, so the second waits for the first and then replays its
response. The unique constraint on (workspace, key) is the last line of defence, and the
key is also passed to the ledger service (``request.idempotency_key``), whose own
per-account key makes the ledger write exactly once whatever happens here.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from contextlib import contextmanager
from functools import wraps

from django.db import IntegrityError, connection, transaction
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ..models import IdempotentResponse
from .errors import ApiError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
#: Responses kept for replay: the write happened (2xx) or the ledger refused it on the
#: account's state (402 insufficient credits, 409 invalid state). Malformed requests (400),
#: unknown ids (404), auth, throttling and 5xx are not kept: they wrote nothing, so the same
#: key can be retried once the request or the token is corrected.
KEPT_STATUSES = {200, 201, 402, 409}


def key_parse(request) -> str:
    """Return the request's idempotency key or raise a 400 naming the header."""
    key = request.headers.get(HEADER, "")
    if not key:
        raise ApiError(status_code=400, code="idempotency_key_missing",
                       message=f"The {HEADER} header is required on every write.",
                       fields={HEADER: ["This header is required."]})
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ApiError(status_code=400, code="invalid",
                       message=f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
                       fields={HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."]})
    return key


def request_fingerprint(request) -> str:
    """Hash what makes two requests the same: method, path and the parsed JSON body."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


@contextmanager
def key_lock(*, workspace_id: int, key: str):
    """Hold a PostgreSQL session advisory lock on (workspace, key) for the block; elsewhere
    (SQLite serialises writers) do nothing."""
    if connection.vendor != "postgresql":
        yield
        return
    # Two int4 keys: the workspace and a 32-bit hash of the key (collisions only serialise).
    lock = (int(workspace_id) & 0x7FFFFFFF, zlib.crc32(key.encode()) - 2**31)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", lock)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", lock)


def replay(record: IdempotentResponse, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        raise ApiError(
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, code="idempotency_conflict",
            message=f"{HEADER} {record.key!r} was already used for another request "
                    f"({record.method} {record.path} with a different body).",
            fields={HEADER: ["Already used with a different request."]},
        )
    return Response(json.loads(record.body), status=record.status_code, headers={"Idempotent-Replayed": "true"})


def _keep(request, key: str, fingerprint: str, response: Response) -> Response:
    """Store the response for replays; if another request stored one first, return that."""
    token = request.auth
    body = JSONRenderer().render(response.data).decode()
    try:
        with transaction.atomic():
            IdempotentResponse.objects.create(
                workspace_id=token.workspace_id, token=token, key=key, method=request.method,
                path=request.path[:500], request_hash=fingerprint,
                status_code=response.status_code, body=body,
            )
    except IntegrityError:
        return replay(IdempotentResponse.objects.get(workspace_id=token.workspace_id, key=key), fingerprint)
    return response


def idempotent(handler):
    """Make a write handler idempotent by its ``Idempotency-Key``; the handler reads the
    key from ``request.idempotency_key`` and passes it to the ledger service."""

    @wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = key_parse(request)
        fingerprint = request_fingerprint(request)
        workspace_id = request.auth.workspace_id
        with key_lock(workspace_id=workspace_id, key=key):
            record = IdempotentResponse.objects.filter(workspace_id=workspace_id, key=key).first()
            if record is not None:
                return replay(record, fingerprint)
            request.idempotency_key = key
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:  # render ledger refusals now, so they can be kept
                response = view.handle_exception(exc)
            if response.status_code not in KEPT_STATUSES:
                return response
            return _keep(request, key, fingerprint, response)

    wrapper.idempotent = True
    return wrapper

"""GET /v1/audit/logs/{event_id}: one full record, its chain position and its inclusion proof."""

from typing import Annotated

from audit_layer_store.lookup import EventNotFound
from fastapi import APIRouter, Path, Request

from audit_layer_api.context import ERRORS, NOT_FOUND, Context, Reader
from audit_layer_api.problems import Problem
from audit_layer_api.reads import load_record
from audit_layer_api.schemas import RecordResponse
from audit_layer_api.seed_body import event_id_for

router = APIRouter(tags=["audit"])
EventId = Annotated[str, Path(min_length=1, max_length=256,
                              description="the event id (UUID), or the request_id it was sent with")]


@router.get("/v1/audit/logs/{event_id}", response_model=RecordResponse,
            summary="one full record, its chain position and its inclusion proof",
            responses={**ERRORS, **NOT_FOUND})
async def get_log(request: Request, key: Reader, context: Context, event_id: EventId) -> RecordResponse:
    given = event_id
    backends = context.backends
    try:
        event_id = event_id_for(key.tenant_id, given)
        record = await context.backend(load_record, backends.store, backends.public_keys(), key.tenant_id, event_id)
    except (ValueError, EventNotFound):
        await context.record_access(key, request, "not_found", {"event_id": event_id, "given_id": given})
        raise Problem(404, f"no record with event id or request id {given!r} in organisation "
                           f"{key.tenant_id}") from None
    await context.record_access(key, request, "served", {"event_id": event_id}, [event_id])
    return record

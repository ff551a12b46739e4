"""POST /v1/audit/logs/{event_id}/reviews: a person's verdict on a decision, after the fact.

The review is a chained audit event of its own (governance/reviews.py); the decision is never edited.
"""

import datetime as dt
import uuid

from audit_layer_governance.reviews import ReviewError, review_event, reviews_of
from audit_layer_store.lookup import EventNotFound, event_key
from fastapi import APIRouter, Request

from audit_layer_api.context import ERRORS, NOT_FOUND, ApiContext, Context, Reader, Reviewer
from audit_layer_api.problems import Problem
from audit_layer_api.routes.records import EventId
from audit_layer_api.schemas import API_VERSION, ReviewCreate, ReviewOut
from audit_layer_api.seed_body import event_id_for

router = APIRouter(tags=["reviews"])  # writing: not in a read-only deployment
read_router = APIRouter(tags=["reviews"])


async def record_review(context: ApiContext, request: Request, tenant: str, reviewer_id: str, reviewer_name: str,
                        event_id: str, verdict: str, note: str) -> ReviewOut:
    """Checks the decision exists in the organisation, then publishes the review (answered once Kafka acked)."""
    try:
        _, seq = await context.backend(event_key, context.backends.store, event_id, tenant)
    except EventNotFound:
        raise Problem(404, f"no record {event_id} in organisation {tenant}") from None
    try:
        event = review_event(tenant_id=tenant, reviewed_event_id=event_id, verdict=verdict, note=note,
                             reviewer=reviewer_id, reviewer_name=reviewer_name, sdk_version=API_VERSION)
    except ReviewError as exc:
        raise Problem(422, str(exc)) from None
    await context.publish([event.to_avro()])
    return ReviewOut(review_event_id=event.event_id, event_id=event_id, decision_seq=seq, verdict=verdict,
                     note=event.reasoning or "", reviewer=reviewer_id, reviewed_at_us=event.timestamp_us)


@router.post("/v1/audit/logs/{event_id}/reviews", status_code=201, response_model=ReviewOut,
             summary="record a person's review of a decision (confirmed or overridden, with a note)",
             responses={**ERRORS, **NOT_FOUND})
async def create_review(request: Request, body: ReviewCreate, key: Reviewer, context: Context,
                        event_id: EventId) -> ReviewOut:
    try:
        event_id = event_id_for(key.tenant_id, event_id)
    except ValueError:
        raise Problem(404, f"no record {event_id!r} in organisation {key.tenant_id}") from None
    return await record_review(context, request, key.tenant_id, f"api-key:{key.key_id}", key.name, event_id,
                               body.verdict, body.note)


@read_router.get("/v1/audit/logs/{event_id}/reviews", response_model=list[ReviewOut],
            summary="the reviews recorded for a decision, oldest first", responses={**ERRORS, **NOT_FOUND})
async def list_reviews(request: Request, key: Reader, context: Context, event_id: EventId) -> list[ReviewOut]:
    try:
        event_id = str(uuid.UUID(event_id_for(key.tenant_id, event_id)))
    except ValueError:
        raise Problem(404, f"no record {event_id!r} in organisation {key.tenant_id}") from None
    found = await context.backend(reviews_of, context.backends.store, key.tenant_id, event_id)
    await context.record_access(key, request, "served", {"event_id": event_id}, [r.event_id for r in found])
    return [ReviewOut(review_event_id=r.event_id, event_id=event_id, decision_seq=None, verdict=r.verdict,
                      note=r.note, reviewer=r.reviewer,
                      reviewed_at_us=int(r.reviewed_at.replace(tzinfo=dt.UTC).timestamp() * 1e6))
            for r in found]

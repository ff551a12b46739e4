"""GET /v1/audit/logs: the organisation's records, filtered, newest first, with cursor pagination."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from audit_layer_api.context import ERRORS, Context, Reader
from audit_layer_api.problems import Problem
from audit_layer_api.reads import search_page
from audit_layer_api.schemas import LogPage
from audit_layer_api.search import MAX_LIMIT, FilterError, Filters, decode_cursor, search_sql

router = APIRouter(tags=["audit"])
ALLOWED = set(Filters.__dataclass_fields__) | {"limit", "cursor"}


@router.get("/v1/audit/logs", response_model=LogPage,
            summary="search the organisation's records, newest first, with cursor pagination", responses=ERRORS)
async def search(
    request: Request, key: Reader, context: Context,
    start_date: Annotated[str | None, Query(description="from this date (YYYY-MM-DD, UTC) or RFC 3339 instant, "
                                                        "inclusive", max_length=40)] = None,
    end_date: Annotated[str | None, Query(description="to this date (inclusive: the whole day) or RFC 3339 "
                                                      "instant (exclusive)", max_length=40)] = None,
    decision_type: Annotated[str | None, Query(max_length=256)] = None,
    decision_outcome: Annotated[str | None, Query(max_length=256)] = None,
    model: Annotated[str | None, Query(max_length=256)] = None,
    provider: Annotated[str | None, Query(max_length=256)] = None,
    risk_level: Annotated[str | None, Query(pattern="^(LOW|MEDIUM|HIGH|CRITICAL)$")] = None,
    action: Annotated[str | None, Query(pattern="^(ALLOW|REJECT|FAIL_RETRY)$")] = None,
    user_id: Annotated[str | None, Query(max_length=256)] = None,
    session_id: Annotated[str | None, Query(max_length=256)] = None,
    compliance_tag: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> LogPage:
    unknown = sorted(set(request.query_params) - ALLOWED)
    if unknown:
        raise Problem(400, f"unknown parameter {', '.join(unknown)}; filters are "
                           f"{', '.join(sorted(ALLOWED))} (the organisation comes from the API key)")
    filters = Filters(start_date, end_date, decision_type, decision_outcome, model, provider, risk_level,
                      action, user_id, session_id, compliance_tag)
    store = context.backends.store
    try:
        before = decode_cursor(cursor, filters) if cursor else None
        query = search_sql(store.database, key.tenant_id, filters, limit, before)
    except FilterError as exc:
        raise Problem(400 if "cursor" in str(exc) else 422, str(exc)) from None
    items, next_cursor = await context.backend(search_page, store, query, filters, limit,
                                               context.settings.query_settings)
    await context.record_access(key, request, "served" if items else "empty",
                                {**vars(filters), "limit": limit, "cursor": cursor}, [i.event_id for i in items])
    return LogPage(items=items, next_cursor=next_cursor)

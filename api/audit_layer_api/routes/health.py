"""Liveness and readiness."""

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from audit_layer_api.context import Context
from audit_layer_api.metrics import CONTENT_TYPE
from audit_layer_api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/metrics", include_in_schema=False)
async def metrics(context: Context) -> Response:
    """Prometheus's text format (metrics.py)."""
    return Response(context.metrics.exposition(), media_type=CONTENT_TYPE)


@router.get("/readyz", response_model=Health, summary="readiness: Kafka and ClickHouse answer",
            responses={503: {"model": Health, "description": "a backend does not answer"}})
async def readyz(response: Response, context: Context) -> Health:
    checks: dict[str, str] = {}
    # the topics it writes to must exist: a broker that answers is not enough to take an event
    kafka = await run_in_threadpool(context.backends.producer.ready, 2.0, (context.backends.topics.events,))
    checks["kafka"] = "ok" if kafka is None else f"unavailable: {kafka}"
    try:
        await context.backend(context.backends.store.query, "SELECT 1", timeout=2.0)
        checks["clickhouse"] = "ok"
    except Exception as exc:
        checks["clickhouse"] = f"unavailable: {getattr(exc, 'detail', exc)}"
    ok = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ok else 503
    return Health(status="ok" if ok else "unavailable", checks=checks)

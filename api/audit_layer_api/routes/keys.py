"""The organisation's own API keys (admin scope)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from audit_layer_api.api_keys import ApiKey, Scope
from audit_layer_api.context import ERRORS, NOT_FOUND, Admin, Context
from audit_layer_api.problems import Problem
from audit_layer_api.schemas import KeyCreate, KeyCreated, KeyOut

router = APIRouter(tags=["keys"])


def key_out(k: ApiKey) -> dict[str, Any]:
    return {"key_id": k.key_id, "name": k.name, "scopes": sorted(s.value for s in k.scopes),
            "rate_per_s": k.rate_per_s, "created_by": k.created_by, "created_at": k.created_at,
            "revoked": k.revoked}


@router.get("/v1/keys", response_model=list[KeyOut], summary="the organisation's API keys", responses=ERRORS)
async def list_keys(key: Admin, context: Context) -> list[KeyOut]:
    return [KeyOut(**key_out(k)) for k in await context.backend(context.backends.keys.list, key.tenant_id)]


@router.post("/v1/keys", status_code=201, response_model=KeyCreated,
             summary="a new API key for the organisation (the secret is in this answer only)", responses=ERRORS)
async def create_key(request: Request, body: KeyCreate, key: Admin, context: Context) -> KeyCreated:
    made, stored = await context.backend(context.backends.keys.create, key.tenant_id,
                                         frozenset(Scope(s) for s in body.scopes), name=body.name,
                                         created_by=f"api-key:{key.key_id}", rate_per_s=body.rate_per_s)
    await context.record_access(key, request, "key_created", {"new_key_id": made.key_id, "scopes": body.scopes})
    return KeyCreated(**key_out(stored), api_key=made.token)


@router.delete("/v1/keys/{key_id}", response_model=KeyOut, summary="revoke one of the keys",
               responses={**ERRORS, **NOT_FOUND})
async def revoke_key(request: Request, key: Admin, context: Context,
                     key_id: Annotated[str, Path(pattern="^[0-9a-f]{12}$")]) -> KeyOut:
    try:
        revoked = await context.backend(context.backends.keys.revoke, key_id, key.tenant_id)
    except KeyError:
        raise Problem(404, f"no key {key_id} in organisation {key.tenant_id}") from None
    await context.record_access(key, request, "key_revoked", {"revoked_key_id": key_id})
    return KeyOut(**key_out(revoked))

"""The organisation's chain: verification, signed checkpoints, consistency proofs, the public keys."""

import base64
from typing import Annotated

from audit_layer_ledger.proofs import ProofError, build_consistency, tenant_checkpoints
from fastapi import APIRouter, Query, Request

from audit_layer_api.context import ERRORS, Context, Reader
from audit_layer_api.problems import Problem
from audit_layer_api.reads import latest_verification, verify_now
from audit_layer_api.schemas import CheckpointOut, ConsistencyProof, PublicKey, VerifyResult
from audit_layer_api.search import MAX_LIMIT

router = APIRouter(tags=["chain"])


@router.get("/v1/chain/verify", response_model=VerifyResult,
            summary="verify the organisation's hash chain and signed checkpoints", responses=ERRORS)
async def chain_verify(
    request: Request, key: Reader, context: Context,
    mode: Annotated[str, Query(pattern="^(now|latest)$", description="`now`: recompute the chain from storage "
                               "(takes ~1 s per 100,000 records); `latest`: the last recorded verification")]
    = "now",
) -> VerifyResult:
    store = context.backends.store
    if mode == "latest":
        result = await context.backend(latest_verification, store, key.tenant_id)
    else:
        result = await context.backend(verify_now, store, context.backends.public_keys(), key.tenant_id,
                                       timeout=context.settings.verify_timeout_s)
    await context.record_access(key, request, "served", {"mode": mode})
    return result


@router.get("/v1/chain/checkpoints", response_model=list[CheckpointOut],
            summary="the organisation's signed checkpoints, oldest first (hand them to a witness)",
            responses=ERRORS)
async def checkpoints(request: Request, key: Reader, context: Context,
                      after_seq: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
                      limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100) -> list[CheckpointOut]:
    rows = await context.backend(tenant_checkpoints, context.backends.store, key.tenant_id, after_seq)
    await context.record_access(key, request, "served", {"after_seq": after_seq, "limit": limit})
    return [CheckpointOut(**r) for r in rows[:limit]]


@router.get("/v1/chain/consistency", response_model=ConsistencyProof,
            summary="RFC 6962 proof that the log at size `first` is a prefix of the log at size `second`",
            responses=ERRORS)
async def consistency(request: Request, key: Reader, context: Context,
                      first: Annotated[int, Query(ge=0, le=2**63 - 1)],
                      second: Annotated[int, Query(ge=0, le=2**63 - 1)]) -> ConsistencyProof:
    if first > second:
        raise Problem(422, "first must not exceed second")
    stored = await context.backend(context.backends.stored_size, key.tenant_id)
    if second > stored:
        raise Problem(422, f"the log holds {stored} records; second must not exceed that")
    try:
        proof = await context.backend(build_consistency, context.backends.store, key.tenant_id, first, second)
    except ProofError as exc:
        raise Problem(422, str(exc)) from None
    await context.record_access(key, request, "served", {"first": first, "second": second})
    return ConsistencyProof(**proof)


@router.get("/v1/chain/public-keys", response_model=list[PublicKey],
            summary="the public keys that sign checkpoints", responses=ERRORS)
async def public_keys(key: Reader, context: Context) -> list[PublicKey]:
    return [PublicKey(key_id=k, ed25519_public_key=base64.b64encode(v).decode())
            for k, v in sorted(context.backends.public_keys().items())]

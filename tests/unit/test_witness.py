"""The witness countersigns a growing log and raises an alarm when the operator rewrites it."""

import base64
import json
from pathlib import Path

import pytest
from audit_layer_ledger.witness import COSIGN_HEADER, Witness, WitnessAlarm, statement_of
from audit_layer_processors.chain_state import ChainBatch, CheckpointPolicy, DedupPolicy, Signer
from audit_layer_samples.factories import enriched_record, make_event
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.checkpoint import key_id
from audit_layer_schemas.merkle import consistency_proof, leaf_hash
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OPERATOR = Ed25519PrivateKey.generate()
OPERATOR_RAW = OPERATOR.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
OPERATOR_ID = key_id(OPERATOR_RAW)


def _log(records: list[dict]) -> tuple[list[dict], list[bytes]]:
    """The operator's checkpoints (every 10 events) and the Merkle leaves of a chain of `records`."""
    batch = ChainBatch({}, LinkEncoder(), DedupPolicy(), CheckpointPolicy(every_events=10),
                       Signer(OPERATOR_ID, lambda s: OPERATOR.sign(s.encode())), now_us=7)
    leaves = []
    for record in records:
        link = batch.link(record)
        assert link is not None
        leaves.append(leaf_hash(link.hash))
    checkpoints = [{**c, "head_hash": c["head_hash"].hex(), "merkle_root": c["merkle_root"].hex(),
                    "signature": base64.b64encode(c["signature"]).decode()} for c in batch.checkpoints]
    return checkpoints, leaves


def _consistency(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    return lambda a, b: [p.hex() for p in consistency_proof(a, leaves[:b])]


def test_growing_log_is_countersigned(tmp_path: Path) -> None:
    records = [enriched_record(make_event("t")) for _ in range(30)]
    witness = Witness(tmp_path, Ed25519PrivateKey.generate(), {OPERATOR_ID: OPERATOR_RAW})
    checkpoints, leaves = _log(records)
    assert witness.observe("t", checkpoints[:1], _consistency(leaves)) == 1
    assert witness.observe("t", checkpoints, _consistency(leaves)) == 2  # 20 and 30 extend 10
    assert witness.seen("t").size == 30
    lines = [json.loads(x) for x in (tmp_path / "cosigned-t.jsonl").read_text().splitlines()]
    public = witness.key.public_key()
    for entry in lines:
        public.verify(base64.b64decode(entry["witness_signature"]), COSIGN_HEADER + statement_of(entry).encode())


def test_rewritten_history_raises_an_alarm(tmp_path: Path) -> None:
    records = [enriched_record(make_event("t")) for _ in range(30)]
    witness = Witness(tmp_path, Ed25519PrivateKey.generate(), {OPERATOR_ID: OPERATOR_RAW})
    honest, honest_leaves = _log(records)
    witness.observe("t", honest[:2], _consistency(honest_leaves))  # witnessed size 20

    forged_records = records[:15] + [enriched_record(make_event("t")) for _ in range(15)]
    forged, forged_leaves = _log(forged_records)  # same first 15 links, then a different history
    with pytest.raises(WitnessAlarm, match="does not extend"):
        witness.observe("t", [*honest[:2], forged[2]], _consistency(forged_leaves))  # size 30 over another past
    with pytest.raises(WitnessAlarm, match="fork"):
        witness.observe("t", [*honest[:2], forged[1]], _consistency(forged_leaves))  # another root for size 20
    assert witness.seen("t").size == 20


def test_unsigned_or_foreign_checkpoints_raise(tmp_path: Path) -> None:
    records = [enriched_record(make_event("t")) for _ in range(10)]
    checkpoints, leaves = _log(records)
    witness = Witness(tmp_path, Ed25519PrivateKey.generate(), {})
    with pytest.raises(WitnessAlarm, match="unknown key"):
        witness.observe("t", checkpoints, _consistency(leaves))
    witness = Witness(tmp_path, Ed25519PrivateKey.generate(), {OPERATOR_ID: OPERATOR_RAW})
    tampered = [{**checkpoints[0], "created_at_us": 8}]
    with pytest.raises(WitnessAlarm, match="signature invalid"):
        witness.observe("t", tampered, _consistency(leaves))


def test_the_witness_remembers_what_it_countersigned(tmp_path: Path) -> None:
    records = [enriched_record(make_event("t")) for _ in range(30)]
    witness = Witness(tmp_path, Ed25519PrivateKey.generate(), {OPERATOR_ID: OPERATOR_RAW})
    honest, leaves = _log(records)
    assert witness.observe("t", honest, _consistency(leaves)) == 3  # witnessed size 30
    assert witness.observe("t", honest, _consistency(leaves)) == 0  # nothing new: still fine
    with pytest.raises(WitnessAlarm, match="rollback"):
        witness.observe("t", honest[:2], _consistency(leaves))  # the log cut back to size 20
    with pytest.raises(WitnessAlarm, match="rollback"):
        witness.observe("t", [], _consistency(leaves))  # every checkpoint deleted
    rewritten = {**honest[2], "merkle_root": "00" * 32}
    with pytest.raises(WitnessAlarm, match="no longer in the log"):
        witness.observe("t", [*honest[:2], rewritten], _consistency(leaves))
    forged_ten = {**honest[0], "merkle_root": "11" * 32}
    with pytest.raises(WitnessAlarm, match="fork"):
        witness.observe("t", [*honest, forged_ten], _consistency(leaves))  # a second size-10 checkpoint

"""The tlog-witness endpoint's answers, without HTTP: each refusal has its status, and only a checkpoint
that extends what was cosigned is cosigned."""

from __future__ import annotations

from pathlib import Path

from audit_layer_ledger.tlog_witness import request_body
from audit_layer_ledger.witness import Witness
from audit_layer_ledger.witness_server import AddCheckpoint
from audit_layer_processors.signing import CheckpointSigner
from audit_layer_schemas import signed_note
from audit_layer_schemas.merkle import consistency_proof, leaf_hash, root
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OPERATOR = CheckpointSigner(Ed25519PrivateKey.generate())
ORIGIN = "log.example/acme"
LEAVES = [leaf_hash(bytes([i]) * 32) for i in range(12)]


def _note(size: int, signer: CheckpointSigner = OPERATOR, origin: str = ORIGIN) -> str:
    return signer.sign_note(origin, signed_note.checkpoint_body(origin, size, root(LEAVES[:size])))


def test_each_answer_of_add_checkpoint(tmp_path: Path) -> None:
    witness = Witness(tmp_path, Ed25519PrivateKey.generate(), {OPERATOR.key_id: OPERATOR.public_raw}, "w.example")
    endpoint = AddCheckpoint(witness, "log.example")
    assert endpoint.handle(b"nonsense")[0] == 400
    assert endpoint.handle(request_body(0, [], _note(4, origin="other.example/acme")))[0] == 404
    stranger = CheckpointSigner(Ed25519PrivateKey.generate())
    assert endpoint.handle(request_body(0, [], _note(4, stranger)))[0] == 403
    assert endpoint.handle(request_body(5, [], _note(4)))[0] == 400  # old above the new size
    status, kind, body = endpoint.handle(request_body(0, [], _note(4)))
    assert status == 200 and kind == "text/x.tlog.cosignature" and body.decode().startswith("\u2014 w.example ")
    assert endpoint.handle(request_body(0, [], _note(8))) == (409, "text/x.tlog.size", b"4\n")
    proof = consistency_proof(4, LEAVES[:8])
    assert endpoint.handle(request_body(4, [bytes(32)] * len(proof), _note(8)))[0] == 422
    assert endpoint.handle(request_body(4, proof, _note(8)))[0] == 200
    assert endpoint.handle(request_body(8, [], _note(8)))[0] == 200  # the same tree again
    assert witness.seen("acme").size == 8 and set(witness.countersigned("acme")) == {4, 8}

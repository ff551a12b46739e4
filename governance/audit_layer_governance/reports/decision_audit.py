"""The audit of one decision: its full record, why it was assessed as it was, where it sits in
its tenant's chain, and whether its inclusion proof checks against a signed checkpoint."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from audit_layer_ledger.offline_proof import ProofInvalid
from audit_layer_ledger.offline_proof import verify as verify_offline
from audit_layer_ledger.proofs import ProofError, build_proof
from audit_layer_schemas import sha256_hex
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_store.lookup import EventNotFound, event_row
from audit_layer_store.rows import SELECT_COLUMNS, chain_fields_from_row
from audit_layer_store.store import ClickHouseStore

from audit_layer_governance.reports.conversation import prompt_messages, response_messages
from audit_layer_governance.reports.document import Conversation, KeyValues, Message, Report, TableBlock, rfc3339
from audit_layer_governance.reviews import reviews_of

CONTENT_SHOWN = 4000  # characters of each message in the html and pdf; json has all of it
OFFLINE_CHECK = ("audit-layer proof {event_id} --out proof.json && python -m audit_layer_ledger.offline_proof "
                 "proof.json --trusted-key data/keys/checkpoint-ed25519.pub")


DecisionNotFound = EventNotFound


def lookup(store: ClickHouseStore, event_id: str, tenant: str | None = None) -> dict[str, Any]:
    """The stored row of one event, by id, as column -> value (and the raw row under `_row`)."""
    extra = ("retention_days", "legal_hold", "kafka_partition", "kafka_offset", "toString(loaded_at) AS loaded_at")
    row = event_row(store, event_id, extra, tenant=tenant)
    names = [c.rsplit(" AS ", 1)[-1] for c in SELECT_COLUMNS + extra]
    return dict(zip(names, row, strict=True)) | {"_row": row}


def metadata_value(value: str) -> str:
    """Metadata values are stored JSON-encoded (types survive the Avro map of strings); a string is shown
    as itself, anything else as compact JSON."""
    try:
        decoded = json.loads(value)
    except (ValueError, TypeError):
        return value
    return decoded if isinstance(decoded, str) else json.dumps(decoded, ensure_ascii=False, separators=(",", ":"))


def duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:,.1f} ms" if ms < 10_000 else f"{ms / 1000:,.2f} s"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def build(store: ClickHouseStore, event_id: str, public_keys: dict[str, bytes], tenant: str | None = None) -> Report:
    row = lookup(store, event_id, tenant)
    tenant, seq, prev_hash, digest, link_schema, enriched = chain_fields_from_row(row["_row"][:len(SELECT_COLUMNS)])
    event = enriched["event"]
    db = store.database

    # the link itself, and its neighbours
    try:
        recomputed = LinkEncoder(fingerprint=bytes.fromhex(link_schema)).link_hash(prev_hash, enriched, seq)
        link_ok = recomputed == digest
    except (KeyError, ValueError, TypeError):
        link_ok = False
    salt = event.get("content_salt")
    content_ok = all(event.get(t) is None or sha256_hex(event[t], salt) in (event.get(f"{t}_sha256"),
                                                                           enriched.get(f"masked_{t}_sha256"))
                     for t in ("prompt", "response"))
    neighbours = {int(s): (bytes(p), bytes(h)) for s, p, h in store.query(
        f"SELECT seq, prev_hash, hash FROM {db}.events FINAL WHERE tenant_id = {{t:String}} "
        "AND seq IN ({a:UInt64}, {b:UInt64})", parameters={"t": tenant, "a": max(seq - 1, 0), "b": seq + 1}
    ).result_rows}
    if seq == 1:
        before = "genesis (seq 1: prev_hash is 32 zero bytes)" if prev_hash == bytes(32) else "BROKEN: seq 1 prev_hash"
    elif seq - 1 in neighbours:
        before = f"links to seq {seq - 1}" if neighbours[seq - 1][1] == prev_hash else "BROKEN: differs from seq-1"
    else:
        before = f"MISSING: seq {seq - 1} is not stored"
    after = ("not yet written" if seq + 1 not in neighbours else
             f"seq {seq + 1} links to it" if neighbours[seq + 1][0] == digest else "BROKEN: seq+1 does not link")

    # the inclusion proof, checked as an auditor would, offline
    proof: dict[str, Any] = {}
    try:
        built = build_proof(store, str(event["event_id"]), public_keys, tenant)
        verify_offline(built, public_keys)
        cp = built["checkpoint"]
        proof = {"status": "VERIFIED", "checkpoint_last_seq": cp["last_seq"],
                 "checkpoint_signed_at": rfc3339(cp["created_at_us"] / 1e6), "key_id": cp["key_id"],
                 "merkle_root": cp["merkle_root"], "signature": cp["signature"],
                 "audit_path_length": len(built["audit_path"]),
                 "check_it_offline": OFFLINE_CHECK.format(event_id=event["event_id"])}
    except ProofError as exc:
        proof = {"status": "PENDING" if "not yet covered" in str(exc) else "UNAVAILABLE", "detail": str(exc)}
    except ProofInvalid as exc:
        proof = {"status": "FAILED", "detail": str(exc)}

    reviews: list[dict[str, Any]] = [
        {"event_id": r.event_id, "verdict": r.verdict, "note": r.note, "reviewer": r.reviewer,
         "reviewed_at": rfc3339(r.reviewed_at), "seq": r.seq}
        for r in reviews_of(store, tenant, str(event["event_id"]))]
    data = {
        "event_id": str(event["event_id"]),
        "tenant_id": tenant,
        "record": {k: v for k, v in row.items() if k != "_row"},
        "enrichment": {k: enriched.get(k) for k in ("risk_level", "risk_reasons", "compliance_tags", "pii_found",
                                                     "content_action", "policy_version", "enricher_version")}
        | {"retention_days": row["retention_days"], "legal_hold": bool(row["legal_hold"])},
        "chain": {"seq": seq, "prev_hash": prev_hash.hex(), "hash": digest.hex(), "link_schema": link_schema,
                  "link_recomputes": link_ok, "content_matches_digests": content_ok,
                  "previous": before, "next": after},
        "inclusion_proof": proof,
        "reviews": reviews,
    }
    at_the_time = (event.get("metadata") or {}).get("human_reviewed_by")
    review_block: TableBlock | KeyValues = TableBlock(
        "Human review", ("time (UTC)", "verdict", "reviewer", "note", "review event (seq)"),
        tuple((r["reviewed_at"], r["verdict"], r["reviewer"], r["note"], f"{r['event_id']} ({r['seq']})")
              for r in reviews)) if reviews else KeyValues("Human review", ((
                  "Status", f"reviewed when made, by {metadata_value(at_the_time)}" if at_the_time
                  else "not reviewed"),))
    ts = rfc3339(event["timestamp_us"] / 1e6)

    def shown(message: Message) -> Message:
        text = message.text
        if len(text) <= CONTENT_SHOWN:
            return message
        return Message(message.role, text[:CONTENT_SHOWN] + f"… ({len(text):,} characters; the json report has "
                                                           "all of it)", message.name)

    messages = tuple(shown(m) for m in prompt_messages(event.get("prompt")) + response_messages(event.get("response")))

    blocks = (
        KeyValues("Decision", (
            ("Event id", str(data["event_id"])), ("Tenant", tenant), ("Time (UTC)", ts),
            ("User / session", f"{_text(event.get('user_id'))} / {_text(event.get('session_id'))}"),
            ("Trace / span", f"{_text(event.get('trace_id'))} / {_text(event.get('span_id'))}"),
            ("Provider / model / operation",
             " / ".join(_text(event.get(k)) for k in ("provider", "model", "operation"))),
            ("Decision type", _text(event.get("decision_type"))), ("Outcome", _text(event.get("decision_outcome"))),
            ("Confidence", _text(event.get("confidence"))), ("Reasoning", _text(event.get("reasoning"))),
            ("Action", f"{event['action']} ({_text(event.get('reason_codes'))})"),
            ("Finish reason / error", f"{_text(event.get('finish_reason'))} / {_text(event.get('error_type'))}"),
            ("Tokens in / out", f"{_text(event.get('input_tokens'))} / {_text(event.get('output_tokens'))}"),
            ("Duration", duration(event.get("duration_ms"))),
        )),
        Conversation("Conversation", messages),
        KeyValues("Content digests", (
            ("Prompt SHA-256", _text(event.get("prompt_sha256"))),
            ("Response SHA-256", _text(event.get("response_sha256"))),
            ("Stored text", "erased or not captured" if event.get("prompt") is None and event.get("response") is None
             else "as recorded"),
        )),
        KeyValues("Enrichment: why it was assessed so", (
            ("Risk level", enriched["risk_level"]), ("Risk reasons", _text(enriched.get("risk_reasons"))),
            ("Compliance tags", _text(enriched.get("compliance_tags"))),
            ("Personal data found", _text(enriched.get("pii_found"))),
            ("Content action", _text(enriched.get("content_action"))),
            ("Policy / enricher version", f"{_text(enriched.get('policy_version'))} / "
                                          f"{_text(enriched.get('enricher_version'))}"),
            ("Retention", f"{row['retention_days']} days" + (", under legal hold" if row["legal_hold"] else "")),
        )),
        review_block,
        KeyValues("Metadata", tuple((k, metadata_value(v)) for k, v in sorted((event.get("metadata") or {}).items()))
                  or (("(none)", ""),)),
        KeyValues("Position in the chain", (
            ("Seq", str(seq)), ("Prev hash", prev_hash.hex()), ("Hash", digest.hex()),
            ("Link recomputes", "yes" if link_ok else "NO: the stored fields do not hash to the stored hash"),
            ("Content matches its digests", "yes" if content_ok else "NO: the stored text was altered"),
            ("Previous link", before), ("Next link", after),
        )),
        KeyValues("Inclusion proof", tuple((k.replace("_", " ").capitalize(), _text(v)) for k, v in proof.items())),
    )
    return Report("decision-audit", f"Decision audit: {data['event_id']}", f"tenant {tenant}, seq {seq}",
                  rfc3339(dt.datetime.now(dt.UTC).replace(microsecond=0)), {"event_id": data["event_id"]},
                  blocks, data)

import hashlib

from audit_layer_processors.chain_state import ChainBatch, DedupPolicy, Head, latest_heads
from audit_layer_samples.factories import enriched_record, make_event
from audit_layer_schemas.chain import GENESIS_HASH, LinkEncoder


def test_link_hash_is_sha256_of_prev_and_link_bytes() -> None:
    encoder = LinkEncoder()
    record = enriched_record(make_event())
    link = encoder.link_bytes(record, 1)
    assert link[:8] == (1).to_bytes(8, "big")
    assert link[8:16] == encoder.schema_fingerprint
    assert encoder.link_hash(GENESIS_HASH, record, 1) == hashlib.sha256(GENESIS_HASH + link).digest()


def test_content_is_outside_the_hash_and_its_digest_inside() -> None:
    encoder = LinkEncoder()
    record = enriched_record(make_event())
    base = encoder.link_hash(GENESIS_HASH, record, 1)
    erased = {**record, "event": {**record["event"], "prompt": None, "response": None}}
    assert encoder.link_hash(GENESIS_HASH, erased, 1) == base
    altered_digest = {**record, "event": {**record["event"], "prompt_sha256": "0" * 64}}
    assert encoder.link_hash(GENESIS_HASH, altered_digest, 1) != base


def test_every_chained_field_changes_the_hash() -> None:
    encoder = LinkEncoder()
    record = enriched_record(make_event())
    base = encoder.link_hash(GENESIS_HASH, record, 1)
    changes = {
        "decision_outcome": "denied", "tenant_id": "other", "input_tokens": 11, "confidence": 0.91,
        "metadata": {"loan_amount": "50001"}, "timestamp_us": record["event"]["timestamp_us"] + 1,
    }
    for field, value in changes.items():
        changed = {**record, "event": {**record["event"], field: value}}
        assert encoder.link_hash(GENESIS_HASH, changed, 1) != base, field
    assert encoder.link_hash(GENESIS_HASH, {**record, "risk_level": "CRITICAL"}, 1) != base
    assert encoder.link_hash(GENESIS_HASH, record, 2) != base
    assert encoder.link_hash(b"\x01" * 32, record, 1) != base


def test_batch_links_per_tenant_from_genesis() -> None:
    batch = ChainBatch({}, LinkEncoder(), DedupPolicy())
    a1 = batch.link(enriched_record(make_event("a")))
    b1 = batch.link(enriched_record(make_event("b")))
    a2 = batch.link(enriched_record(make_event("a")))
    assert a1 is not None and b1 is not None and a2 is not None
    assert (a1.seq, b1.seq, a2.seq) == (1, 1, 2)
    assert a1.prev_hash == GENESIS_HASH and a2.prev_hash == a1.hash
    staged = batch.staged()
    assert staged["a"].seq == 2 and staged["a"].hash == a2.hash


def test_batch_continues_from_heads_and_leaves_them_untouched() -> None:
    first = ChainBatch({}, LinkEncoder(), DedupPolicy())
    for _ in range(41):
        first.link(enriched_record(make_event("a")))
    heads = first.staged()
    batch = ChainBatch(heads, LinkEncoder(), DedupPolicy())
    link = batch.link(enriched_record(make_event("a")))
    assert link is not None and link.seq == 42 and link.prev_hash == heads["a"].hash
    assert heads["a"].seq == 41  # applied by the worker only after the transaction commits


def test_checkpoints_every_n_events_sign_the_merkle_root() -> None:
    from audit_layer_processors.chain_state import CheckpointPolicy, Signer
    from audit_layer_schemas.checkpoint import CheckpointStatement
    from audit_layer_schemas.merkle import leaf_hash, root

    signed: list[CheckpointStatement] = []

    def sign(statement: CheckpointStatement) -> bytes:
        signed.append(statement)
        return b"s" * 64

    batch = ChainBatch({}, LinkEncoder(), DedupPolicy(), CheckpointPolicy(every_events=10),
                       Signer("k1", sign), now_us=5)
    links = [batch.link(enriched_record(make_event("a"))) for _ in range(25)]
    leaves = [leaf_hash(link.hash) for link in links if link is not None]
    assert [(c["first_seq"], c["last_seq"]) for c in batch.checkpoints] == [(1, 10), (11, 20)]
    assert batch.checkpoints[1]["merkle_root"] == root(leaves[:20])
    assert batch.checkpoints[1]["head_hash"] == links[19].hash  # type: ignore[union-attr]
    assert signed[1].encode().startswith(b"audit-layer checkpoint v1\ntenant=a\nfirst_seq=11\n")
    restored = ChainBatch(batch.staged(), LinkEncoder(), DedupPolicy(), CheckpointPolicy(every_events=10),
                          Signer("k1", sign), now_us=6)
    record = restored.checkpoint("a")  # e.g. due by time: covers 21..25, root over all 25
    assert record is not None and (record["first_seq"], record["last_seq"]) == (21, 25)
    assert record["merkle_root"] == root(leaves)


def test_duplicates_dropped_within_the_window_and_across_restarts() -> None:
    event = enriched_record(make_event("a"))
    batch = ChainBatch({}, LinkEncoder(), DedupPolicy(window=3))
    assert batch.link(event) is not None
    assert batch.link(event) is None and batch.duplicates == 1
    restored = ChainBatch(batch.staged(), LinkEncoder(), DedupPolicy(window=3))
    assert restored.link(event) is None  # the window travels in the head
    for _ in range(3):
        restored.link(enriched_record(make_event("a")))
    assert restored.link(event) is not None  # evicted: the window is bounded


def test_latest_heads_takes_highest_seq() -> None:
    heads = latest_heads([("a", Head(1, b"1" * 32)), ("a", Head(3, b"3" * 32)), ("b", Head(2, b"2" * 32))])
    assert heads["a"].seq == 3 and heads["b"].seq == 2


def test_a_spliced_chained_event_is_byte_for_byte_the_encoded_one() -> None:
    from audit_layer_processors.chain_state import Link
    from audit_layer_processors.chained_writer import ChainedWriter
    from audit_layer_schemas import CHAINED_EVENT, ENRICHED_EVENT, AvroCodec

    encoder = LinkEncoder()
    writer = ChainedWriter(encoder.schema_hex)
    enriched_codec, chained_codec = AvroCodec(ENRICHED_EVENT), AvroCodec(CHAINED_EVENT)
    for seq in (1, 63, 64, 10**12):
        record = enriched_record(make_event("acme", metadata={"b": "2", "a": "1"}))
        message = enriched_codec.encode(record)
        decoded = enriched_codec.decode(message)
        link = Link("acme", seq, bytes(range(32)), hashlib.sha256(b"%d" % seq).digest())
        expected = chained_codec.encode({"event": decoded, "seq": seq, "prev_hash": link.prev_hash,
                                         "hash": link.hash, "link_schema": encoder.schema_hex})
        spliced = writer.write(message, decoded, link)
        assert spliced == expected
        assert chained_codec.decode(spliced)["seq"] == seq
        # another writer's layout is re-encoded from the decoded record, never spliced
        assert writer.write(b"\xc3\x01" + bytes(8) + message[10:], decoded, link) == expected


def test_one_pass_gives_the_message_and_the_link_body_the_two_encodes_give() -> None:
    """LinkEncoder.encode (used where an event is enriched and chained in one process) against the codec's
    encode and link_bytes, on varied events: content present, absent, unicode, with and without salt."""
    from audit_layer_samples.datasets import varied_events
    from audit_layer_schemas import ENRICHED_EVENT, AvroCodec

    encoder, codec = LinkEncoder(), AvroCodec(ENRICHED_EVENT)
    events = [*varied_events("acme", 200), make_event(prompt=None, response=None),
              make_event(prompt="Ünïcødé ✓ 日本語", response="")]
    records = [enriched_record(e) for e in events]
    records.append({**records[0], "event": {**records[0]["event"], "content_salt": None}})
    for seq, record in enumerate(records, 1):
        message, link_body = encoder.encode(record)
        assert message == codec.encode(record)
        assert link_body == encoder.link_bytes(record, seq)[16:]
        assert encoder.link_hash(GENESIS_HASH, record, seq, link_body) == encoder.link_hash(GENESIS_HASH, record, seq)
    assert any(r["event"]["prompt"] for r in records) and any(r["event"]["prompt"] is None for r in records)

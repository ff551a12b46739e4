"""`audit-layer dlq`: the on-call engineer lists the dead-letter topic with its reasons, looks at one
message, and replays chosen ones through the real pipeline (enricher, sequencer, sink)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AUDIT_EVENT, AvroCodec
from confluent_kafka import Producer

from tests.conftest import read_topic, wait_for_rows

pytestmark = pytest.mark.integration


def test_dead_letters_are_listed_shown_and_replayed_once(pipeline: dict[str, Any]) -> None:
    store, topics, bootstrap = pipeline["store"], pipeline["topics"], pipeline["bootstrap"]

    def dlq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "audit_layer_cli.main", "dlq", *args, "--bootstrap-servers",
                               bootstrap, "--topic-prefix", topics.prefix], capture_output=True, text=True,
                              timeout=120)

    producer = Producer({"bootstrap.servers": bootstrap})
    # a poison message the running enricher dead-letters itself
    producer.produce(topics.events, key=b"acme-bank", value=b"\x00\x01not Avro at all")
    # and a valid event an earlier enricher refused by mistake (a bug since fixed): the case a replay is for
    event = make_event("acme-bank")
    producer.produce(topics.dlq, key=b"acme-bank", value=AvroCodec(AUDIT_EVENT).encode(event.to_avro()),
                     partition=1, headers=[("dlq.reason", b"invalid_event"),
                                           ("dlq.detail", b"refused by enricher 0.1 (fixed in 0.2)"),
                                           ("dlq.source", f"{topics.events}:1:7".encode()),
                                           ("dlq.at_us", str(time.time_ns() // 1000).encode())])
    assert producer.flush(30) == 0
    assert len(read_topic(bootstrap, topics.dlq, 2)) == 2

    listed = dlq("list", "--json")
    assert listed.returncode == 0, listed.stderr
    letters = {row["reason"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert set(letters) == {"not_single_object_encoding", "invalid_event"}
    assert letters["invalid_event"]["source"] == f"{topics.events}:1:7"
    assert letters["not_single_object_encoding"]["source"].startswith(f"{topics.events}:")
    table = dlq("list")
    assert table.returncode == 0 and "not_single_object_encoding" in table.stdout
    good = letters["invalid_event"]["ref"]
    shown = json.loads(dlq("show", good).stdout)
    assert AvroCodec(AUDIT_EVENT).decode(base64.b64decode(shown["value_base64"]))["event_id"] == event.event_id

    assert "would replay" in dlq("replay", good, "--dry-run").stdout
    for _ in range(2):  # replayed twice: one record
        again = dlq("replay", good)
        assert again.returncode == 0 and f"replayed {good}" in again.stdout, again.stderr
    # the event once, and each replay recorded in the tenant's chain: who replayed what
    assert wait_for_rows(store, 3, workers=pipeline["workers"], sink=pipeline["sink"]) == 3
    time.sleep(3)
    assert store.query(f"SELECT count(), any(toString(event_id)) FROM {store.database}.events "
                       "WHERE decision_type != 'dlq_replay'").result_rows == [(1, event.event_id)]
    replays = store.query(f"SELECT tenant_id, user_id, metadata['dlq_refs'] FROM {store.database}.events "
                          "WHERE decision_type = 'dlq_replay'").result_rows
    assert [(t, json.loads(refs)) for t, _, refs in replays] == [("acme-bank", good)] * 2

    # replaying what still fails: it is dead-lettered again, with its reason
    assert dlq("replay", "--reason", "not_single_object_encoding").returncode == 0
    assert len(read_topic(bootstrap, topics.dlq, 3)) == 3
    rows = [json.loads(line) for line in dlq("list", "--json").stdout.splitlines()]
    assert len(rows) == 3 and sum(r["reason"] == "not_single_object_encoding" for r in rows) == 2

    for args, says in ((("replay",), "name the dead letters"), (("show", "9:999"), "no dead letter 9:999"),
                       (("replay", "x"), "is not PARTITION:OFFSET"),
                       (("replay", "--reason", "nope"), "no dead letter")):
        out = dlq(*args)
        assert out.returncode == 2 and says in out.stderr, (args, out.stderr)

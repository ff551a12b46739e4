"""ClickHouse analytics on the real embedded engine: migrations, aggregates, named queries,
reports checked for their numbers, retention and legal holds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from typing import Any

import pypdfium2 as pdfium
import pytest
from audit_layer_governance.legal_hold import active_holds, lift_hold, place_hold
from audit_layer_governance.named_queries import QueryError, load_queries, run_named
from audit_layer_governance.reports import compliance_summary
from audit_layer_governance.reports.render import render
from audit_layer_samples.datasets import EVENT_COLUMNS, chain, load, varied_events
from audit_layer_samples.factories import make_event
from audit_layer_store.rows import INSERT_COLUMNS, SELECT_COLUMNS
from audit_layer_store.store import ClickHouseStore

pytestmark = pytest.mark.integration
TODAY = dt.datetime.now(dt.UTC).date()


def _rows(store: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return list(store.query(sql.replace("{db}", store.database), parameters=params or None).result_rows)


def test_migrations_run_twice_change_nothing_and_upgrade_an_old_table(chdb_path: str) -> None:
    store = ClickHouseStore(f"chdb://{chdb_path}", "test_upgrade")
    try:
        store.command("DROP DATABASE IF EXISTS test_upgrade")
        assert store.migrate(upto="0004_pii_policy.sql")[-1] == "0004_pii_policy.sql"
        chained = chain(varied_events("acme", 120))
        load(store, chained, columns=INSERT_COLUMNS)  # an old table: no retention columns yet
        select = f"SELECT {', '.join(SELECT_COLUMNS)} FROM {{db}}.events FINAL ORDER BY seq"
        before = _rows(store, select)

        assert store.migrate() == ["0005_analytics.sql", "0006_event_ids.sql", "0007_merkle_nodes.sql",
                                   "0008_api_keys.sql", "0009_event_keys.sql", "0010_checkpoint_notes.sql",
                                   "0011_retention_from_ingestion.sql", "0012_events_by_ingestion.rebuild.sql",
                                   "0013_events_compact_parts.sql"]
        assert _rows(store, select) == before  # every stored field as it was
        assert _rows(store, "SELECT min(retention_days), max(legal_hold) FROM {db}.events") == [(180, 0)]
        assert _rows(store, "SELECT sum(events) FROM {db}.events_daily") == [(120,)]  # backfilled
        assert _rows(store, "SELECT count() FROM {db}.event_keys FINAL") == [(120,)]

        schema = _rows(store, "SHOW CREATE TABLE {db}.events")
        assert store.migrate() == []
        assert _rows(store, "SHOW CREATE TABLE {db}.events") == schema
        assert _rows(store, "SELECT sum(events) FROM {db}.events_daily") == [(120,)]  # not backfilled twice
        # the statements are themselves re-runnable: apply the files again by hand (a rebuild is re-runnable
        # through migrate(), test_store_rebuild.py)
        from audit_layer_store.store import migration_files

        for file in [f for f in migration_files() if not f.name.endswith(".rebuild.sql")][-3:]:
            for statement in store.topology.render(file.read_text(), store.database):
                store.command(statement)
        assert _rows(store, "SHOW CREATE TABLE {db}.events") == schema
        assert _rows(store, "SELECT sum(events) FROM {db}.events_daily") == [(120,)]
        assert _rows(store, "SELECT count() FROM {db}.event_keys FINAL") == [(120,)]
    finally:
        store.command("DROP DATABASE IF EXISTS test_upgrade")


def _expected(chained: list[dict[str, Any]]) -> dict[str, Any]:
    events = [c["event"] for c in chained]
    raw = [e["event"] for e in events]
    actions = Counter(r["action"] for r in raw)
    return {
        "events": len(raw),
        "actions": {a: actions.get(a, 0) for a in ("ALLOW", "REJECT", "FAIL_RETRY")},
        "risk_levels": {lvl: sum(e["risk_level"] == lvl for e in events) for lvl in ("LOW", "MEDIUM", "HIGH",
                                                                                     "CRITICAL")},
        "refusals": sum("refusal" in r["reason_codes"] for r in raw),
        "content_filtered": sum("content_filter" in r["reason_codes"] for r in raw),
        "pii_incidents": sum(bool(e["pii_found"]) for e in events),
        "high_risk_without_review": sum(e["risk_level"] in ("HIGH", "CRITICAL")
                                        and "human_reviewed_by" not in r["metadata"]
                                        for e, r in zip(events, raw, strict=True)),
        "tokens": {"input": sum(r["input_tokens"] for r in raw), "output": sum(r["output_tokens"] for r in raw)},
        "compliance_tags": dict(Counter(t for e in events for t in e["compliance_tags"])),
        "models": Counter((r["provider"], r["model"]) for r in raw),
    }


def test_compliance_summary_figures_match_the_data_set_in_every_format(store: Any, tmp_path: Any) -> None:
    chained = chain(varied_events("acme", 300) + varied_events("other", 50, seed=3))
    load(store, chained)
    expected = _expected([c for c in chained if c["event"]["event"]["tenant_id"] == "acme"])

    report = compliance_summary.build(store, "acme", TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1))
    data = report.data
    for key in ("events", "actions", "risk_levels", "refusals", "content_filtered", "pii_incidents",
                "high_risk_without_review", "tokens", "compliance_tags"):
        assert data[key] == expected[key], key
    assert {(m["provider"], m["model"]): m["events"] for m in data["models"]} == expected["models"]
    assert data["rates"]["refusal"] == round(expected["refusals"] / 300, 4)
    durations = sorted(c["event"]["event"]["duration_ms"] for c in chained[:300])
    assert abs(data["latency_ms"]["p50"] - durations[150]) < 0.1 * durations[150]
    assert data["chain"]["status"] == "VERIFIED" and data["chain"]["stored_up_to_seq"] == 300
    assert data["chain"]["last_verification"]["run_for_this_report"] and data["chain"]["figures"]["ok"]

    as_json = json.loads(render(report, "json"))
    assert as_json["events"] == 300 and as_json["actions"] == expected["actions"]
    lines = list(csv.reader(io.StringIO(render(report, "csv").decode())))
    assert ["Overview", "Events", "", "300"] in lines
    assert ["Actions", "REJECT", "events", str(float(expected["actions"]["REJECT"]))] in lines
    html = render(report, "html").decode()
    assert html.count("<svg") == len(report.charts) == 4 and "Compliance summary: acme" in html
    assert f">{expected['actions']['REJECT']:,}</text>" in html  # the bar's value label

    pdf_bytes = render(report, "pdf")
    (tmp_path / "summary.pdf").write_bytes(pdf_bytes)
    pdf = pdfium.PdfDocument(pdf_bytes)
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "Compliance summary: acme" in text and "Events per day" in text and "Risk levels" in text
    assert "300" in text and f"{expected['tokens']['input']:,}" in text
    image = pdf[0].render(scale=1).to_pil().convert("RGB")
    colours = Counter(image.getdata())
    bar_blue = sum(n for (r, g, b), n in colours.items() if abs(r - 0x2B) < 12 and abs(g - 0x6C) < 12
                   and abs(b - 0xB0) < 12)
    assert bar_blue > 500, "the charts' bars were not drawn on the first page"
    assert colours[(255, 255, 255)] < sum(colours.values()) * 0.98, "the page is blank"


def test_named_queries_run_with_typed_parameters(store: Any) -> None:
    chained = chain(varied_events("acme", 100))
    load(store, chained)
    queries = load_queries()
    assert {"decisions_by_outcome", "reject_refusal_rates_by_model", "pii_incidents", "high_risk_without_review",
            "tokens_latency_by_model", "user_history", "session_history"} <= set(queries)
    period = {"tenant": "acme", "from_date": str(TODAY - dt.timedelta(days=1)), "to_date": str(TODAY)}
    expected = _expected(chained)
    by_outcome = run_named(store, queries["decisions_by_outcome"], period).result_rows
    assert sum(r[3] for r in by_outcome) == 100 and sum(r[4] for r in by_outcome) == expected["actions"]["REJECT"]
    assert len(run_named(store, queries["pii_incidents"], period).result_rows) == expected["pii_incidents"]
    unreviewed = run_named(store, queries["high_risk_without_review"], period).result_rows
    assert len(unreviewed) == expected["high_risk_without_review"]
    rates = run_named(store, queries["reject_refusal_rates_by_model"], period).result_rows
    assert sum(r[2] for r in rates) == 100
    tokens = run_named(store, queries["tokens_latency_by_model"], period).result_rows
    assert sum(r[3] for r in tokens) == expected["tokens"]["input"]
    history = run_named(store, queries["user_history"], {"tenant": "acme", "user_id": "u-1"}).result_rows
    assert [r[0] for r in history] == [c["seq"] for c in chained if c["event"]["event"]["user_id"] == "u-1"]
    # another tenant's name finds nothing; a parameter is bound, never pasted into the SQL
    assert run_named(store, queries["user_history"], {"tenant": "acme' OR 1=1 --", "user_id": "u-1"}).result_rows == []
    with pytest.raises(QueryError, match="missing --param user_id"):
        run_named(store, queries["user_history"], {"tenant": "acme"})
    with pytest.raises(QueryError, match="unknown parameter nope"):
        run_named(store, queries["user_history"], {"tenant": "acme", "user_id": "x", "nope": "1"})


def _expire(store: Any) -> None:
    """Make ClickHouse apply the TTL now instead of at its next background merge."""
    store.command(f"ALTER TABLE {store.database}.events MATERIALIZE TTL SETTINGS mutations_sync = 2")
    store.command(f"OPTIMIZE TABLE {store.database}.events FINAL")


def test_retention_drops_expired_parts_but_a_legal_hold_keeps_them_until_lifted(
    store: Any, kafka_bootstrap: str, topics: Any
) -> None:
    from audit_layer_sinks.sink import ClickHouseSink, SinkConfig

    hold, count = place_hold(store, "acme", user_id="u-0", reason="case 2026-17", set_by="legal@acme")
    assert count == 0 and [h.hold_id for h in active_holds(store)] == [hold.hold_id]
    from audit_layer_governance.retention import RetentionPolicy

    # its row builder, as it loads; every class kept the minimum 180 days, so one age decides a part's fate
    sink = ClickHouseSink(SinkConfig(kafka_bootstrap, topics, retention=RetentionPolicy()), store)
    sink._refresh_holds()
    old = int((dt.datetime.now(dt.UTC) - dt.timedelta(days=400)).timestamp() * 1e6)
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1e6)
    for events, received in ((varied_events("acme", 30, users=1, start_us=old), old),  # user u-0: held
                             (varied_events("beta", 30, users=1, start_us=old), old),  # 400 days > 180: expired
                             (varied_events("gamma", 10, users=2), now),               # recent
                             # a client whose clock says 1970, received now: kept (retention counts from receipt)
                             (varied_events("delta", 5, users=1, start_us=1_000_000), now)):
        rows = [sink._event_row(c, 0, i) for i, c in enumerate(chain(events, ingested_at_us=received))]
        store.insert("events", rows, EVENT_COLUMNS)
    _expire(store)
    left = dict(_rows(store, "SELECT tenant_id, count() FROM {db}.events GROUP BY tenant_id"))
    assert left == {"acme": 30, "gamma": 10, "delta": 5}  # beta's old rows dropped with their part; acme's held

    # a hold on rows already stored marks them
    second, count = place_hold(store, "gamma", session_id="s-1", reason="inquiry", set_by="legal@gamma")
    assert count == 2  # events 1 and 8 of session s-1
    assert _rows(store, "SELECT sum(legal_hold) FROM {db}.events WHERE tenant_id = 'gamma'") == [(2,)]

    released_hold, released = lift_hold(store, hold.hold_id, "legal@acme")
    assert released_hold.hold_id == hold.hold_id and released == 30
    assert [h.hold_id for h in active_holds(store)] == [second.hold_id]
    _expire(store)
    assert dict(_rows(store, "SELECT tenant_id, count() FROM {db}.events GROUP BY tenant_id")) == {"gamma": 10,
                                                                                                  "delta": 5}
    with pytest.raises(ValueError, match="no active legal hold"):
        lift_hold(store, hold.hold_id, "legal@acme")


def test_clickhouse_reading_the_avro_builds_the_same_rows_as_python(store: Any, chdb_path: str, tmp_path: Any) -> None:
    """The sink's load paths store identical rows, holds and retention: the engine reading an Avro container
    (avro_load.py), or a Native block the compiled codec made (native_block.rs), and Python (rows.py)."""
    from audit_layer_governance.legal_hold import LegalHold, holds_condition
    from audit_layer_governance.retention import RetentionPolicy
    from audit_layer_schemas import CHAINED_EVENT, AvroCodec
    from audit_layer_schemas.codec import HEADER_SIZE
    from audit_layer_sinks.avro_load import ChainedEventLoad
    from audit_layer_store.rows import row_from_chained

    codec = AvroCodec(CHAINED_EVENT)
    events = varied_events("acme", 400)
    events.append(make_event("acme", prompt="Ünïcødé ✓ 日本語 \\n \"quoted\" \t tab", user_id=None, session_id=None,
                             duration_ms=None, input_tokens=None, confidence=1e-300, metadata={}, reason_codes=[]))
    messages = [codec.encode(c) for c in chain(events)]
    retention = RetentionPolicy({"standard": 180, "financial": 2555, "health": 2190})
    holds = [LegalHold("h1", "acme", user_id="u-1"), LegalHold("h2", "acme", session_id="s-3")]
    python_rows = []
    for offset, message in enumerate(messages):
        record = codec.decode(message)
        event = record["event"]["event"]
        held = any(h.matches(event["tenant_id"], event["user_id"], event["session_id"]) for h in holds)
        python_rows.append([*row_from_chained(record, 2, offset * 3), retention.days_for(record["event"]
                                                                                      ["compliance_tags"]), int(held)])
    store.insert("events", python_rows, EVENT_COLUMNS)

    load = ChainedEventLoad(codec.schema.canonical_form)
    assert load.native_layout is not None, "the compiled codec is built by `make install`"
    select = (f"SELECT {', '.join(SELECT_COLUMNS)}, retention_days, legal_hold, kafka_partition, kafka_offset "
              "FROM {db}.events ORDER BY seq")
    expected = _rows(store, select)
    assert len(expected) == 401 and {r[-4] for r in expected} == {180, 2555, 2190}
    assert 0 < sum(r[-3] for r in expected) < 401
    expr, params = retention.sql("compliance_tags")
    cond, hold_params = holds_condition(holds)
    for layout in (load.avro_layout, load.native_layout):
        other = ClickHouseStore(f"chdb://{chdb_path}", f"{store.database}_{layout.file_format.lower()}")
        try:
            other.migrate()
            files = []
            for n in range(3):  # in any order: each row carries its offset; two partitions in one file
                batches = [(2 + k, [offset * 3 for offset in range(n, len(messages), 3)][k::2],
                            messages[n::3][k::2]) for k in (0, 1)]
                staging = load.staging(batches, HEADER_SIZE, native=layout.file_format == "Native")
                assert staging.layout == layout
                (tmp_path / f"part-{n}.{layout.file_format}").write_bytes(b"".join(staging.pieces))
                files.append(str(tmp_path / f"part-{n}.{layout.file_format}"))
            stage = f"{other.database}.{layout.table}"
            for statement in load.stage_statements(layout, stage, files):
                other.command(statement)
            assert not other.query(load.stored(layout, stage).replace("{table}", f"{other.database}.events")
                                   ).result_rows
            other.command_with(load.statement(layout, stage, expr, f"if({cond}, 1, 0)")
                               .replace("{table}", f"{other.database}.events"),
                               {**params, **hold_params}, settings={"max_threads": 3})
            got = _rows(other, select)
            # the partitions the batches named, the rest as Python built it
            assert [r[-2] for r in got] == [2 + (k // 3) % 2 for k in range(401)]
            assert [r[:-2] + r[-1:] for r in got] == [r[:-2] + r[-1:] for r in expected]
            # loaded again, every row is found stored, none forked, and the insert that skips them adds none
            for statement in load.stage_statements(layout, stage, files):
                other.command(statement)
            stored = other.query(load.stored(layout, stage).replace("{table}", f"{other.database}.events"))
            assert len(stored.result_rows) == 401 and not any(fork for _, _, fork in stored.result_rows)
            other.command_with(load.statement(layout, stage, expr, f"if({cond}, 1, 0)")
                               .replace("{table}", f"{other.database}.events"), {**params, **hold_params})
            assert _rows(other, "SELECT count() FROM {db}.events") == [(401,)]
        finally:
            other.command(f"DROP DATABASE IF EXISTS {other.database}")

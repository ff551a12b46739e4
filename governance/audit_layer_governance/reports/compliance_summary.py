"""The compliance summary of one tenant over a period: what an auditor signs.

Figures come from the daily aggregates (events_daily, events_daily_tags), so the report takes
the same time for a day or for years of events; each day's count is held against the stored events
themselves first, and when they disagree (an edited aggregate row, or a row stored twice, which the
aggregates count twice) every figure is computed from the stored events, each (tenant, seq) once, and the
difference is named in the report. The chain status comes from a
verification run for the report (the default), or, with `verify_now=False`, from the last recorded one,
marked as not re-checked: a row in `verifications` is never evidence on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from audit_layer_store.store import ClickHouseStore

from audit_layer_governance.reports.document import RISK_COLORS, BarChart, KeyValues, Report, TableBlock, rfc3339
from audit_layer_governance.reviews import reviewed_ids_sql, unreviewed_condition
from audit_layer_governance.reviews import unreviewed as unreviewed_list

APPENDIX_ROWS = 500  # unreviewed high-risk decisions listed; the json has the count and the same list

Progress = Callable[[str], None]
STEPS = ("volumes", "risk", "decision types", "models", "compliance tags", "chain")


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _pct(rate: float) -> str:
    return f"{rate * 100:.2f}%"


def _ms(values: Any) -> dict[str, float | None]:
    """quantilesTDigestMerge of no rows is nan; say 'none' instead of a number."""
    names = ("p50", "p90", "p99")
    return {n: (None if v != v else round(float(v), 1)) for n, v in zip(names, values or (), strict=False)}


def record_verification(store: ClickHouseStore, report: Any) -> None:
    """Keep a verification's result so reports can state it without recomputing the chain."""
    now = dt.datetime.now(dt.UTC)
    first: dict[str, Any] = {}
    for f in report.findings:  # the walk's and the stored-row, fork and anchor findings alike
        first.setdefault(f.tenant_id, f)
    rows = [[t.tenant_id, now, int(t.tenant_id not in first), t.links, t.last_seq, t.head, t.checkpoints_verified,
             None if t.tenant_id not in first else f"{first[t.tenant_id].problem} at seq {first[t.tenant_id].seq}: "
                                                   f"{first[t.tenant_id].detail}"]
            for t in report.tenants.values()]
    if rows:
        store.insert("verifications", rows, ["tenant_id", "verified_at", "ok", "links", "last_seq", "head_hash",
                                             "checkpoints_verified", "finding"])


def build(store: ClickHouseStore, tenant: str, start: dt.date, end: dt.date, *,
          progress: Progress | None = None, verify_now: bool = True,
          public_keys: dict[str, bytes] | None = None, for_display: bool = False) -> Report:
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    step = progress or (lambda _name: None)
    p = {"t": tenant, "f": start, "e": end}

    def rows(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return list(store.query(sql, parameters=params or p).result_rows)

    # two clients of the engine run in parallel (store.sibling()): the scans of the events go on the second
    lane = ThreadPoolExecutor(1)
    sibling = store.sibling()

    def beside(sql: str, params: dict[str, Any] | None = None) -> Future[list[tuple[Any, ...]]]:
        return lane.submit(lambda: list(sibling.query(sql, parameters=params or p).result_rows))

    try:
        return _build(store, tenant, start, end, step, verify_now, public_keys, for_display, rows, beside)
    finally:
        lane.shutdown()


def _build(store: ClickHouseStore, tenant: str, start: dt.date, end: dt.date, step: Progress, verify_now: bool,
           public_keys: dict[str, bytes] | None, for_display: bool, rows: Callable[..., list[tuple[Any, ...]]],
           beside: Callable[..., Future[list[tuple[Any, ...]]]]) -> Report:
    db = store.database
    period = "tenant_id = {t:String} AND day BETWEEN {f:Date} AND {e:Date}"
    # the figures' backbone (events per day, action and risk level) in the aggregates, held against the stored
    # events first: when they disagree, every figure is computed from the stored events instead
    cells = "day, toString(action), toString(risk_level)"
    # a page (for_display) counts rows as stored, without the exact distinct count of seqs that finds rows
    # stored twice: `verify` and every downloaded report still find them
    distinct = "count()" if for_display else "uniqExact(seq)"
    stored_rows = beside(
        f"SELECT toDate(timestamp) AS day, toString(action), toString(risk_level), {distinct}, count() "
        f"FROM {db}.events WHERE tenant_id = {{t:String}} AND toDate(timestamp) BETWEEN {{f:Date}} AND {{e:Date}} "
        "GROUP BY ALL")
    aggregated = rows(f"SELECT {cells}, sum(events) FROM {db}.events_daily WHERE {period} GROUP BY {cells}")
    stored = stored_rows.result()
    figures = _figures_check({tuple(r[:3]): r[3] for r in aggregated}, {tuple(r[:3]): r[3] for r in stored},
                             {tuple(r[:3]): r[4] for r in stored})
    daily, daily_tags = f"{db}.events_daily", f"{db}.events_daily_tags"
    if not figures["ok"]:
        daily, daily_tags = _daily_from_events(db), _tags_from_events(db)
    # reviews recorded after the fact are events of their own: the aggregates, counted when each decision was
    # stored, cannot know them, so the unreviewed figures come from the events; a page that need not be
    # evidence (for_display: the console's) takes the aggregates less the reviews recorded since, faster
    in_period = "tenant_id = {t:String} AND toDate(timestamp) BETWEEN {f:Date} AND {e:Date}"
    exact_unreviewed = not for_display or not figures["ok"]
    reviewed = beside(
        f"SELECT ifNull(decision_type, ''), uniqExact(seq) FROM {db}.events WHERE {in_period} AND "
        + (unreviewed_condition(db) if exact_unreviewed else
           f"risk_level >= 'HIGH' AND NOT mapContains(metadata, 'human_reviewed_by') AND event_id IN "
           f"{reviewed_ids_sql(db)}") + " GROUP BY 1")

    [(total, allowed, rejected, failed, refusals, filtered, pii, _, tokens_in, tokens_out, latency)] = rows(
        f"SELECT sum(events), sumIf(events, action = 'ALLOW'), sumIf(events, action = 'REJECT'), "
        f"sumIf(events, action = 'FAIL_RETRY'), sum(refusals), sum(content_filtered), sum(pii_events), "
        f"sum(unreviewed_high), sum(input_tokens), sum(output_tokens), "
        f"quantilesTDigestMerge(0.5, 0.9, 0.99)(latency_ms) FROM {daily} WHERE {period}")
    per_day = rows(f"SELECT day, sum(events) FROM {daily} WHERE {period} GROUP BY day ORDER BY day")
    step("volumes")
    risk = dict(rows(f"SELECT toString(risk_level), sum(events) FROM {daily} WHERE {period} "
                     "GROUP BY risk_level ORDER BY risk_level"))
    risk = {level: int(risk.get(level, 0)) for level in ("LOW", "MEDIUM", "HIGH", "CRITICAL")}
    step("risk")
    decisions = rows(f"SELECT decision_type, sum(events) AS n, sumIf(events, action = 'REJECT'), "
                     f"sumIf(events, risk_level >= 'HIGH'), sum(unreviewed_high) FROM {daily} "
                     f"WHERE {period} GROUP BY decision_type ORDER BY n DESC, decision_type")
    step("decision types")
    models = rows(f"SELECT provider, model, sum(events) AS n, sum(input_tokens), sum(output_tokens), "
                  f"sum(refusals), quantilesTDigestMerge(0.5, 0.9, 0.99)(latency_ms) FROM {daily} "
                  f"WHERE {period} GROUP BY provider, model ORDER BY n DESC, provider, model")
    step("models")
    tags = rows(f"SELECT tag, sum(events) AS n FROM {daily_tags} WHERE {period} "
                "GROUP BY tag ORDER BY n DESC, tag")
    step("compliance tags")
    if exact_unreviewed:
        later = {d: int(n) for d, n in reviewed.result()}
    else:
        since = dict(reviewed.result())
        later = {d: max(int(u) - int(since.get(d, 0)), 0) for d, _n, _r, _h, u in decisions}
    unreviewed = sum(later.values())
    _, listed = unreviewed_list(store, tenant, start=start, end=end, limit=APPENDIX_ROWS, counted=False)
    count = unreviewed
    chain = _chain_status(store, tenant, verify_now, public_keys)
    chain["figures"] = figures
    if not figures["ok"] and not figures["rows_stored_twice_only"] and chain["status"] == "VERIFIED":
        chain["status"] = "FAILED: the aggregates do not match the stored events"
    step("chain")

    total = int(total)
    data: dict[str, Any] = {
        "tenant_id": tenant,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "events": total,
        "events_per_day": {d.isoformat(): int(n) for d, n in per_day},
        "actions": {"ALLOW": int(allowed), "REJECT": int(rejected), "FAIL_RETRY": int(failed)},
        "risk_levels": risk,
        "rates": {"reject": _rate(int(rejected), total), "refusal": _rate(int(refusals), total),
                  "content_filter": _rate(int(filtered), total)},
        "refusals": int(refusals),
        "content_filtered": int(filtered),
        "pii_incidents": int(pii),
        "high_risk_without_review": int(unreviewed),
        "tokens": {"input": int(tokens_in), "output": int(tokens_out)},
        "latency_ms": _ms(latency),
        "decision_types": [{"decision_type": d or "(none)", "events": int(n), "rejected": int(r),
                            "high_risk": int(h), "high_risk_without_review": int(later.get(d, 0))}
                           for d, n, r, h, _u in decisions],
        "unreviewed_high_risk": {"count": count, "listed": [
            {"timestamp": rfc3339(x["timestamp"]), "event_id": x["event_id"], "seq": int(x["seq"]),
             "decision_type": x["decision_type"] or "", "decision_outcome": x["decision_outcome"] or "",
             "risk_level": x["risk_level"], "risk_reasons": list(x["risk_reasons"]), "user_id": x["user_id"] or ""}
            for x in listed]},
        "models": [{"provider": pr or "(none)", "model": m or "(none)", "events": int(n), "input_tokens": int(i),
                    "output_tokens": int(o), "refusals": int(rf), "latency_ms": _ms(q)}
                   for pr, m, n, i, o, rf, q in models],
        "compliance_tags": {tag: int(n) for tag, n in tags},
        "chain": chain,
    }
    return Report("compliance-summary", f"Compliance summary: {tenant}",
                  f"{start.isoformat()} to {end.isoformat()} (UTC days, inclusive)",
                  rfc3339(dt.datetime.now(dt.UTC).replace(microsecond=0)),
                  {"tenant": tenant, "from": start.isoformat(), "to": end.isoformat()}, _blocks(data), data)


# One stored row per (tenant, seq) of the period: a row stored twice (an identical twin, which verify reports)
# is counted once, whichever copy is read.
_DISTINCT_EVENTS = ("(SELECT * FROM {db}.events WHERE tenant_id = {{t:String}} AND toDate(timestamp) BETWEEN "
                    "{{f:Date}} AND {{e:Date}} ORDER BY tenant_id, seq LIMIT 1 BY tenant_id, seq)")


def _daily_from_events(db: str) -> str:
    """The rows events_daily would hold for the period (its materialized view's SELECT), from the stored events."""
    return (
        "(SELECT tenant_id, toDate(timestamp) AS day, ifNull(decision_type, '') AS decision_type, "
        "ifNull(provider, '') AS provider, ifNull(model, '') AS model, action, risk_level, count() AS events, "
        "countIf(has(reason_codes, 'refusal')) AS refusals, countIf(has(reason_codes, 'content_filter')) "
        "AS content_filtered, countIf(notEmpty(pii_found)) AS pii_events, countIf(risk_level >= 'HIGH' AND NOT "
        "mapContains(metadata, 'human_reviewed_by')) AS unreviewed_high, sum(ifNull(input_tokens, 0)) AS "
        "input_tokens, sum(ifNull(output_tokens, 0)) AS output_tokens, "
        "quantilesTDigestState(0.5, 0.9, 0.99)(duration_ms) AS latency_ms "
        f"FROM {_DISTINCT_EVENTS.format(db=db)} "
        "GROUP BY tenant_id, day, decision_type, provider, model, action, risk_level)")


def _tags_from_events(db: str) -> str:
    return (f"(SELECT tenant_id, toDate(timestamp) AS day, tag, count() AS events FROM "
            f"{_DISTINCT_EVENTS.format(db=db)} ARRAY JOIN compliance_tags AS tag GROUP BY tenant_id, day, tag)")


def _figures_check(aggregated: dict[Any, Any], distinct: dict[Any, Any], rows: dict[Any, Any]) -> dict[str, Any]:
    """Counts per (day, action, risk level) in the aggregates against the distinct stored seqs of each. When
    every difference is a row stored twice (the aggregate counted each stored row), the aggregates were not
    edited; the figures still come from the events, where a row stored twice counts once."""
    wrong: dict[str, dict[str, int]] = {}
    twice_only = True
    for cell in sorted(set(aggregated) | set(distinct)):
        a, s = int(aggregated.get(cell, 0)), int(distinct.get(cell, 0))
        if a != s:
            wrong[f"{cell[0].isoformat()} {cell[1]} {cell[2]}"] = {"aggregates": a, "events": s}
            twice_only = twice_only and a == int(rows.get(cell, 0))
    days = {cell[0] for cell in set(aggregated) | set(distinct)}
    return {"ok": not wrong, "days_checked": len(days), "mismatched_days": wrong,
            "rows_stored_twice_only": bool(wrong) and twice_only,
            "figures_from": "aggregates" if not wrong else "stored events"}


def _chain_status(store: ClickHouseStore, tenant: str, verify_now: bool,
                  public_keys: dict[str, bytes] | None) -> dict[str, Any]:
    db = store.database
    # newest first in the sort key's order: one granule read, where max(seq) reads the tenant's every seq
    newest = store.query(f"SELECT seq FROM {db}.events WHERE tenant_id = {{t:String}} ORDER BY seq DESC LIMIT 1",
                         parameters={"t": tenant}).result_rows
    stored_max = newest[0][0] if newest else 0
    signed = store.query(f"SELECT last_seq, toString(created_at), key_id FROM {db}.checkpoints "
                         "WHERE tenant_id = {t:String} ORDER BY last_seq DESC LIMIT 1",
                         parameters={"t": tenant}).result_rows
    status: dict[str, Any] = {"stored_up_to_seq": int(stored_max or 0),
                              "latest_checkpoint": None, "last_verification": None}
    if signed:
        seq, at, key = signed[0]
        status["latest_checkpoint"] = {"last_seq": int(seq), "created_at": rfc3339(dt.datetime.fromisoformat(at)),
                                       "key_id": key}
    if verify_now:
        from audit_layer_governance.verification import verify_all

        report = verify_all(store, tenant, public_keys=public_keys)
        record_verification(store, report)
        result = report.tenants.get(tenant)
        found = report.findings
        status["last_verification"] = {
            "ok": not found, "verified_at": rfc3339(dt.datetime.now(dt.UTC).replace(microsecond=0)),
            "links": result.links if result else 0, "last_seq": result.last_seq if result else 0,
            "checkpoints_verified": result.checkpoints_verified if result else 0,
            "finding": None if not found else f"{found[0].problem} at seq {found[0].seq}: {found[0].detail}",
            "run_for_this_report": True, "anchored": not report.anchors.unanchored}
        status["status"] = "VERIFIED" if not found else "FAILED"
        return status
    last = store.query(f"SELECT ok, toString(verified_at), links, last_seq, checkpoints_verified, finding "
                       f"FROM {db}.verifications WHERE tenant_id = {{t:String}} ORDER BY verified_at DESC LIMIT 1",
                       parameters={"t": tenant}).result_rows
    if last:
        ok, at, links, seq, cps, finding = last[0]
        status["last_verification"] = {"ok": bool(ok), "verified_at": rfc3339(dt.datetime.fromisoformat(at)),
                                       "links": int(links), "last_seq": int(seq),
                                       "checkpoints_verified": int(cps), "finding": finding,
                                       "run_for_this_report": False}
    verification = status["last_verification"]
    # a row of the verifications table is the database's word, not evidence: say so
    status["status"] = ("never verified" if verification is None else
                        f"NOT CHECKED (last recorded: {'verified' if verification['ok'] else 'failed'})")
    return status


def _figures_line(figures: dict[str, Any]) -> str:
    days = figures["days_checked"]
    if figures["ok"]:
        return f"{days:,} day{'' if days == 1 else 's'}, all match"
    cells = ", ".join(f"{day} (aggregates {v['aggregates']:,}, events {v['events']:,})"
                      for day, v in list(figures["mismatched_days"].items())[:5])
    if figures["rows_stored_twice_only"]:
        return f"rows stored twice on {cells}: each counted once; figures computed from the stored events"
    return f"MISMATCH on {cells}; figures computed from the stored events"


def _blocks(d: dict[str, Any]) -> tuple[Any, ...]:
    total = d["events"]
    lat = d["latency_ms"]
    chain = d["chain"]
    ver = chain["last_verification"]
    cp = chain["latest_checkpoint"]

    def ms(q: dict[str, float | None]) -> str:
        return " / ".join("-" if v is None else f"{v:,.1f}" for v in q.values()) or "-"

    overview = KeyValues("Overview", (
        ("Events", f"{total:,}"),
        ("Allowed / rejected / failed", " / ".join(f"{d['actions'][a]:,}" for a in ("ALLOW", "REJECT", "FAIL_RETRY"))),
        ("Reject rate", _pct(d["rates"]["reject"])),
        ("Refusal rate", f"{_pct(d['rates']['refusal'])} ({d['refusals']:,})"),
        ("Content-filter rate", f"{_pct(d['rates']['content_filter'])} ({d['content_filtered']:,})"),
        ("PII incidents", f"{d['pii_incidents']:,}"),
        ("High-risk decisions without human review", f"{d['high_risk_without_review']:,}"),
        ("Tokens in / out", f"{d['tokens']['input']:,} / {d['tokens']['output']:,}"),
        ("Latency p50 / p90 / p99 (ms)", ms(lat)),
    ))
    chain_block = KeyValues("Chain integrity", (
        ("Status", chain["status"]),
        ("Stored up to seq", f"{chain['stored_up_to_seq']:,}"),
        ("Latest signed checkpoint", "none" if cp is None else
         f"seq {cp['last_seq']:,} at {cp['created_at']} (key {cp['key_id']})"),
        ("Verification", "none (run `audit-layer verify`, or the report without --no-verify)" if ver is None else
         ("run for this report" if ver.get("run_for_this_report") else "last recorded, not re-checked") +
         f" at {ver['verified_at']}: {ver['links']:,} links to seq {ver['last_seq']:,}, "
         f"{ver['checkpoints_verified']:,} signed checkpoints" + (f"; {ver['finding']}" if ver["finding"] else "")),
        ("Figures checked against stored events", _figures_line(chain["figures"])),
    ))
    over_time = time_series(d["period"]["from"], d["period"]["to"], d["events_per_day"])
    listed = d["unreviewed_high_risk"]["listed"]
    appendix = TableBlock(
        f"Appendix: high-risk decisions without human review ({d['unreviewed_high_risk']['count']:,}"
        + (f"; the newest {len(listed):,} listed)" if len(listed) < d["unreviewed_high_risk"]["count"] else ")"),
        ("time (UTC)", "risk", "decision type", "outcome", "event id", "user"),
        tuple((x["timestamp"], x["risk_level"], x["decision_type"] or "-", x["decision_outcome"] or "-",
               x["event_id"], x["user_id"] or "-") for x in listed))
    return (
        overview,
        *over_time,
        BarChart("Actions", tuple(d["actions"]), tuple(float(v) for v in d["actions"].values())),
        BarChart("Risk levels", tuple(d["risk_levels"]), tuple(float(v) for v in d["risk_levels"].values()),
                 colors=tuple(RISK_COLORS[level] for level in d["risk_levels"])),
        BarChart("Compliance tags", tuple(d["compliance_tags"]),
                 tuple(float(v) for v in d["compliance_tags"].values())),
        TableBlock("Decision types", ("decision type", "events", "rejected", "high risk", "high risk, unreviewed"),
                   tuple((x["decision_type"], f"{x['events']:,}", f"{x['rejected']:,}", f"{x['high_risk']:,}",
                          f"{x['high_risk_without_review']:,}") for x in d["decision_types"])),
        TableBlock("Models", ("provider / model", "events", "tokens in", "tokens out", "refusals",
                              "latency p50/p90/p99 ms"),
                   tuple((f"{m['provider']} / {m['model']}", f"{m['events']:,}", f"{m['input_tokens']:,}",
                          f"{m['output_tokens']:,}", f"{m['refusals']:,}", ms(m["latency_ms"]))
                         for m in d["models"])),
        chain_block,
        appendix,
    )


def time_series(first: str, last: str, per_day: dict[str, int]) -> tuple[BarChart, ...]:
    """A chart the period's length can be read in: none for a single day, days up to a month, ISO weeks up
    to half a year, months beyond (a year is 12 bars, not 365)."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    span = (end - start).days + 1
    if span <= 1:
        return ()
    if span <= 31:
        days = [start + dt.timedelta(days=i) for i in range(span)]
        return (BarChart("Events per day", tuple(x.isoformat() for x in days),
                         tuple(float(per_day.get(x.isoformat(), 0)) for x in days)),)
    buckets: dict[str, float] = {}
    weekly = span <= 183
    day = start
    while day <= end:
        if weekly:
            year, week, _ = day.isocalendar()
            label = f"{year}-W{week:02d}"
        else:
            label = day.strftime("%Y-%m")
        buckets[label] = buckets.get(label, 0.0) + float(per_day.get(day.isoformat(), 0))
        day += dt.timedelta(days=1)
    return (BarChart("Events per ISO week" if weekly else "Events per month", tuple(buckets),
                     tuple(buckets.values())),)

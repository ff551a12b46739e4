-- Tokens and latency percentiles per provider and model (from the daily aggregates).
-- Example: audit-layer query tokens_latency_by_model --param tenant=acme --param from_date=2026-11-01 --param to_date=2026-11-30
SELECT
    provider,
    model,
    sum(events)                                         AS calls,
    sum(input_tokens)                                   AS input_tokens,
    sum(output_tokens)                                  AS output_tokens,
    arrayMap(q -> round(q, 1), quantilesTDigestMerge(0.5, 0.9, 0.99)(latency_ms)) AS latency_ms_p50_p90_p99
FROM {db}.events_daily
WHERE tenant_id = {tenant:String} AND day BETWEEN {from_date:Date} AND {to_date:Date}
GROUP BY provider, model
ORDER BY calls DESC

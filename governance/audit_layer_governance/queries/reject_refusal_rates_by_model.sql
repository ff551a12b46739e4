-- Reject, refusal and content-filter rates per provider and model (from the daily aggregates).
-- Example: audit-layer query reject_refusal_rates_by_model --param tenant=acme --param from_date=2026-11-01 --param to_date=2026-11-30
SELECT
    provider,
    model,
    sum(events)                                               AS calls,
    round(sumIf(events, action = 'REJECT') / sum(events), 4)  AS reject_rate,
    round(sum(refusals) / sum(events), 4)                     AS refusal_rate,
    round(sum(content_filtered) / sum(events), 4)             AS content_filter_rate
FROM {db}.events_daily
WHERE tenant_id = {tenant:String} AND day BETWEEN {from_date:Date} AND {to_date:Date}
GROUP BY provider, model
ORDER BY calls DESC

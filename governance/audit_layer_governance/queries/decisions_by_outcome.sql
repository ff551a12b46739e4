-- Decisions per day, by decision type and outcome, with the share the system rejected.
-- Example: audit-layer query decisions_by_outcome --param tenant=acme --param from_date=2026-11-01 --param to_date=2026-11-30
SELECT
    toDate(timestamp)                 AS day,
    ifNull(decision_type, '')         AS decision_type,
    ifNull(decision_outcome, '')      AS outcome,
    count()                           AS decisions,
    countIf(action = 'REJECT')        AS rejected
FROM {db}.events FINAL
WHERE tenant_id = {tenant:String}
  AND timestamp >= {from_date:Date} AND timestamp < {to_date:Date} + 1
GROUP BY day, decision_type, outcome
ORDER BY day, decision_type, outcome

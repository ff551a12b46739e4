-- Calls in which the enrichment policy found personal data, and what it did with the content.
-- Example: audit-layer query pii_incidents --param tenant=acme --param from_date=2026-11-01 --param to_date=2026-11-30
SELECT
    timestamp,
    toString(event_id)   AS event_id,
    user_id,
    decision_type,
    pii_found,
    content_action,
    risk_level
FROM {db}.events FINAL
WHERE tenant_id = {tenant:String}
  AND timestamp >= {from_date:Date} AND timestamp < {to_date:Date} + 1
  AND notEmpty(pii_found)
ORDER BY timestamp
LIMIT 10000

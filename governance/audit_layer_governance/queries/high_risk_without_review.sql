-- HIGH and CRITICAL decisions nobody reviewed: no `human_reviewed_by` in the event's metadata
-- (the application sets it when a person confirmed or overrode the model), and no `decision_review`
-- event since (a reviewer's verdict recorded later, in the console or with POST /v1/audit/logs/{id}/reviews).
-- Example: audit-layer query high_risk_without_review --param tenant=acme --param from_date=2026-11-01 --param to_date=2026-11-30
SELECT
    timestamp,
    toString(event_id)  AS event_id,
    decision_type,
    decision_outcome,
    risk_level,
    risk_reasons,
    user_id
FROM {db}.events FINAL
WHERE tenant_id = {tenant:String}
  AND timestamp >= {from_date:Date} AND timestamp < {to_date:Date} + 1
  AND risk_level >= 'HIGH'
  AND ifNull(decision_type, '') != 'decision_review'
  AND NOT mapContains(metadata, 'human_reviewed_by')
  AND event_id NOT IN (SELECT toUUIDOrZero(metadata['reviews_event_id']) FROM {db}.events
                       WHERE tenant_id = {tenant:String} AND decision_type = 'decision_review')
ORDER BY timestamp
LIMIT 10000

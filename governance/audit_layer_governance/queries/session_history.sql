-- Every call of one session, in chain order.
-- Example: audit-layer query session_history --param tenant=acme --param session_id=s-7
SELECT
    seq,
    timestamp,
    toString(event_id)  AS event_id,
    user_id,
    operation,
    model,
    finish_reason,
    decision_type,
    decision_outcome,
    action,
    risk_level
FROM {db}.events FINAL
WHERE tenant_id = {tenant:String} AND session_id = {session_id:String}
ORDER BY seq
LIMIT 100000

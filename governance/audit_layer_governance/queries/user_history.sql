-- Everything one user did, in chain order: what was asked, decided, and how it was assessed.
-- Example: audit-layer query user_history --param tenant=acme --param user_id=u-42
SELECT
    seq,
    timestamp,
    toString(event_id)  AS event_id,
    session_id,
    model,
    decision_type,
    decision_outcome,
    action,
    risk_level,
    compliance_tags,
    legal_hold
FROM {db}.events FINAL
WHERE tenant_id = {tenant:String} AND user_id = {user_id:String}
ORDER BY seq
LIMIT 100000

# Record an audit event
curl -X POST https://api.auditlayer.io/v1/audit/log \
  -H "Authorization: Bearer al_sk_your_api_key" \
  -H "Content-Type: application/json" \
  -d '{
    "request_id": "req_abc123",
    "timestamp": "2025-02-01T10:30:00Z",
    "duration_ms": 1523,
    "user_id": "user_123",
    "organization_id": "org_456",
    "prompt_hash": "sha256:abc123...",
    "prompt_content": "Analyze this loan application...",
    "prompt_tokens": 250,
    "response_content": "Based on the credit score...",
    "response_tokens": 150,
    "model_provider": "openai",
    "model_name": "gpt-4-turbo",
    "model_parameters": {"temperature": 0.3},
    "decision_type": "loan_underwriting",
    "decision_outcome": "denied",
    "compliance_tags": ["SOC2", "FCRA"]
  }'

# Query audit logs
curl "https://api.auditlayer.io/v1/audit/logs?start_date=2025-01-01&decision_type=loan_underwriting&limit=50" \
  -H "Authorization: Bearer al_sk_your_api_key"

# Get single audit log
curl "https://api.auditlayer.io/v1/audit/logs/log_abc123" \
  -H "Authorization: Bearer al_sk_your_api_key"

# Generate report
curl -X POST https://api.auditlayer.io/v1/reports/generate \
  -H "Authorization: Bearer al_sk_your_api_key" \
  -H "Content-Type: application/json" \
  -d '{
    "report_type": "decision_audit",
    "audit_log_id": "log_abc123",
    "format": "pdf"
  }'

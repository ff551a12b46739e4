from audit_layer_sdk import AuditAnthropic
client = AuditAnthropic(user_id="user_123")

response = client.messages.create(
    model="claude-3-opus-20240229",
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello"}],
    decision_type="diagnosis_assist"  # Extra audit param
)

from audit_layer_sdk import AuditOpenAI

if __name__ == "__main__":
    # Initialize client with user context
    client = AuditOpenAI(
        user_id="user_john_doe",
        session_id="loan_application_12345"
    )

    # Use exactly like regular OpenAI client
    response = client.chat.completions.create(
        model="gpt-4-turbo",
        messages=[
            {"role": "system", "content": "You are a loan underwriting assistant."},
            {"role": "user", "content": "Analyze this application: Credit score 680, DTI 48%"}
        ],
        temperature=0.3,
        # Audit-specific parameters
        decision_type="loan_underwriting",
        compliance_tags=["SOC2", "FCRA"],
        metadata={"loan_amount": 50000, "applicant_id": "APP-12345"}
    )

    print(response.choices[0].message.content)

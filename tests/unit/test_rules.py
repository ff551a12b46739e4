from audit_layer_processors.rules import assess
from audit_layer_schemas import RiskLevel

from tests.factories import make_event


def test_credit_decision_tags_and_reasons() -> None:
    result = assess(make_event(decision_type="loan_underwriting", decision_outcome="approved"))
    assert {"FCRA", "ECOA", "EU-AI-ACT-HIGH-RISK", "SOC2"} <= set(result.compliance_tags)
    assert result.risk_level is RiskLevel.MEDIUM
    assert result.risk_reasons == ("high_risk_domain",)


def test_health_is_hipaa_and_low_risk_when_nothing_fires() -> None:
    result = assess(make_event(decision_type="diagnosis_assist", decision_outcome="suggested"))
    assert "HIPAA" in result.compliance_tags and result.risk_level is RiskLevel.LOW
    assert result.risk_reasons == ()


def test_content_filter_and_reject_raise_risk() -> None:
    result = assess(make_event(decision_type="support_reply", action="REJECT", finish_reason="content_filter",
                               reason_codes=["content_filter"]))
    assert result.risk_level is RiskLevel.HIGH
    assert "content_filter" in result.risk_reasons and "action_reject" in result.risk_reasons


def test_denied_loan_with_low_confidence_is_critical() -> None:
    result = assess(make_event(decision_outcome="denied", confidence=0.3))
    assert result.risk_level is RiskLevel.CRITICAL
    assert {"adverse_outcome", "low_confidence"} <= set(result.risk_reasons)


def test_pii_in_prompt_is_high_and_tagged() -> None:
    result = assess(make_event(decision_type=None, prompt="my SSN is 123-45-6789, mail a@b.org"))
    assert result.risk_level is RiskLevel.HIGH
    assert {"pii_email", "pii_us_ssn"} <= set(result.risk_reasons) and "PII" in result.compliance_tags


def test_assessment_is_deterministic() -> None:
    event = make_event(decision_outcome="denied")
    assert assess(event) == assess(event)

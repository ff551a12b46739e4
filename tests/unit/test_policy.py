from pathlib import Path

import pytest
from audit_layer_processors.enrichment import enrich
from audit_layer_processors.policy import PolicyError, load_policy, parse_policy
from audit_layer_samples.factories import make_event
from audit_layer_schemas import RiskLevel, sha256_hex

POLICY = load_policy()


def _assess(**overrides):  # type: ignore[no-untyped-def]
    event = make_event(**overrides)
    return POLICY.assess(event, [])


def test_credit_decision_tags_and_reasons() -> None:
    result = _assess(decision_type="loan_underwriting", decision_outcome="approved")
    assert {"FCRA", "ECOA", "EU-AI-ACT-HIGH-RISK", "SOC2", "RETENTION-FINANCIAL"} <= set(result.compliance_tags)
    assert result.risk_level is RiskLevel.MEDIUM and result.risk_reasons == ("high_risk_domain",)


def test_health_is_hipaa_with_its_retention_and_low_risk_when_nothing_fires() -> None:
    result = _assess(decision_type="diagnosis_assist", decision_outcome="suggested")
    assert {"HIPAA", "RETENTION-HEALTH"} <= set(result.compliance_tags) and result.risk_level is RiskLevel.LOW
    assert result.risk_reasons == ()


def test_employment_is_eeoc_and_every_event_has_a_retention_class() -> None:
    assert "EEOC" in _assess(decision_type="hiring").compliance_tags
    assert "RETENTION-STANDARD" in _assess(decision_type="support_reply").compliance_tags


def test_content_filter_and_reject_raise_risk() -> None:
    result = _assess(decision_type="support_reply", action="REJECT", finish_reason="content_filter",
                     reason_codes=["content_filter"])
    assert result.risk_level is RiskLevel.HIGH
    assert {"content_filter", "action_reject"} <= set(result.risk_reasons)


def test_denied_loan_with_low_confidence_is_critical() -> None:
    result = _assess(decision_outcome="denied", confidence=0.3)
    assert result.risk_level is RiskLevel.CRITICAL
    assert {"adverse_outcome", "low_confidence", "adverse_low_confidence_high_risk"} <= set(result.risk_reasons)


def test_pii_is_tagged_and_raises_risk_in_the_enriched_record() -> None:
    event = make_event(decision_type=None, prompt="my SSN is 123-45-6789, mail a@b.org")
    record = enrich(event, 1, POLICY)
    assert record["risk_level"] == "HIGH" and record["pii_found"] == ["email", "us_ssn"]
    assert {"pii_email", "pii_us_ssn"} <= set(record["risk_reasons"]) and "PII" in record["compliance_tags"]
    assert record["content_action"] == "KEEP" and record["event"]["prompt"] == event.prompt


def test_tenant_override_masks_and_keeps_both_digests() -> None:
    event = make_event("northwind-health", decision_type="triage", prompt="patient mail j@x.org, 415-555-0132")
    record = enrich(event, 1, POLICY)
    assert record["content_action"] == "MASK"
    assert record["event"]["prompt"] == "patient mail [EMAIL], [PHONE]"
    assert record["event"]["prompt_sha256"] == event.prompt_sha256  # proves the original
    assert record["masked_prompt_sha256"] == sha256_hex("patient mail [EMAIL], [PHONE]", event.content_salt)


def test_drop_keeps_only_digests() -> None:
    policy = parse_policy(Path(POLICY_FILE()).read_text().replace("action: tag", "action: drop"))
    record = enrich(make_event(prompt="card 4111 1111 1111 1111"), 1, policy)
    assert record["content_action"] == "DROP" and record["event"]["prompt"] is None
    assert record["event"]["prompt_sha256"] is not None


def POLICY_FILE() -> str:
    from audit_layer_processors import policy

    return str(Path(policy.__file__).parent / "default_policy.yaml")


def test_assessment_is_deterministic() -> None:
    event = make_event(decision_outcome="denied")
    assert enrich(event, 5, POLICY) == enrich(event, 5, POLICY)


@pytest.mark.parametrize(("edit", "message"), [
    (("  standard: 180", "  standard: 30"),
     "default_policy.yaml:12: retention_classes: Value error, retention class standard keeps 30 days"),
    (("  loan_underwriting: {tags: [FCRA, ECOA], high_risk: true, retention: financial}",
      "  loan_underwriting: {tags: [FCRA, ECOA], high_risk: maybe, retention: financial}"),
     "default_policy.yaml:20: decision_types.loan_underwriting.high_risk"),
    (("  pii: HIGH", "  pii: SEVERE"), "default_policy.yaml:44: signals.pii"),
    (("  action: tag", "  action: shred"), "default_policy.yaml:51: pii.action"),
    (("baseline_tags: [SOC2]", "baseline_tags: [SOC2"), "default_policy.yaml:"),
])
def test_bad_policy_files_name_the_line(edit: tuple[str, str], message: str) -> None:
    text = Path(POLICY_FILE()).read_text()
    assert edit[0] in text
    with pytest.raises(PolicyError) as info:
        parse_policy(text.replace(edit[0], edit[1], 1), "default_policy.yaml")
    assert message in str(info.value), str(info.value)


def test_unknown_retention_class_and_unknown_key_are_refused() -> None:
    text = Path(POLICY_FILE()).read_text()
    with pytest.raises(PolicyError, match="retention class 'forever'"):
        parse_policy(text.replace("retention: health}", "retention: forever}", 1))
    with pytest.raises(PolicyError, match="Extra inputs are not permitted"):
        parse_policy(text + "surprise: 1\n")

"""Why a record was assessed as it was, in words an auditor reads (pure): each risk signal and
compliance tag the enricher set, with the rule of the policy behind it."""

from __future__ import annotations

SIGNALS = {
    "high_risk_domain": "the decision type is marked high-risk in the policy (decision_types.*.high_risk)",
    "action_reject": "the call was rejected (action REJECT)",
    "action_fail_retry": "the call failed and may be retried (action FAIL_RETRY)",
    "content_filter": "the provider's content filter stopped the answer",
    "refusal": "the model refused to answer",
    "low_confidence": "the stated confidence is below the policy's low_confidence_below",
    "adverse_outcome": "the outcome is adverse to the person (signals.adverse_outcomes)",
    "adverse_low_confidence_high_risk": "an adverse outcome, at low confidence, in a high-risk domain: CRITICAL",
}
TAGS = {
    "EU-AI-ACT-HIGH-RISK": "a high-risk use under the EU AI Act (Annex III), set with high_risk_domain",
    "PII": "personal data was found in the prompt or the response",
    "ECOA": "US Equal Credit Opportunity Act: credit decisions",
    "FCRA": "US Fair Credit Reporting Act: consumer reports",
    "EEOC": "US equal employment rules: hiring decisions",
    "HIPAA": "US health information privacy",
    "SOC2": "the organisation's baseline tag (policy baseline_tags)",
    "GDPR": "EU General Data Protection Regulation",
}


def signal(reason: str) -> str:
    if reason.startswith("pii_"):
        return f"personal data of kind {reason[4:]} was found (pii.detect)"
    return SIGNALS.get(reason, "a rule of the policy")


def tag(name: str) -> str:
    if name.startswith("RETENTION-"):
        return f"kept for the {name[10:].lower()} retention class (retention_classes)"
    return TAGS.get(name, "set by the policy's rule for this decision type, or by the application")

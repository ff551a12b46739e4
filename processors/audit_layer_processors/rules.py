"""The first rule set: a risk level and compliance tags for every event, and the reasons why.

Pure functions of the event: the enricher is deterministic, so a redelivered event is
enriched the same way and its duplicate is dropped by the sequencer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audit_layer_schemas import Action, AuditEvent, RiskLevel

RULES_VERSION = "rules-1"

# decision type -> regulations it falls under
DECISION_REGULATIONS: dict[str, tuple[str, ...]] = {
    "loan_underwriting": ("FCRA", "ECOA"),
    "credit_decision": ("FCRA", "ECOA"),
    "credit_limit": ("FCRA", "ECOA"),
    "insurance_pricing": ("EU-AI-ACT-HIGH-RISK",),
    "diagnosis_assist": ("HIPAA",),
    "triage": ("HIPAA",),
    "clinical_summary": ("HIPAA",),
    "hiring": ("EEOC",),
    "employment_screening": ("EEOC",),
}
# EU AI Act Annex III areas (creditworthiness, employment, access to essential services, ...)
EU_AI_ACT_HIGH_RISK = frozenset(
    {"loan_underwriting", "credit_decision", "credit_limit", "insurance_pricing", "hiring",
     "employment_screening", "triage", "education_admission", "benefits_eligibility"}
)
BASELINE_TAGS = ("SOC2",)
ADVERSE_OUTCOMES = frozenset({"denied", "declined", "rejected", "refused", "terminated", "flagged"})
LOW_CONFIDENCE = 0.5

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_US_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")

_ORDER = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]


@dataclass(frozen=True)
class Assessment:
    risk_level: RiskLevel
    risk_reasons: tuple[str, ...]
    compliance_tags: tuple[str, ...]


def _raise(level: RiskLevel, to: RiskLevel) -> RiskLevel:
    return max(level, to, key=_ORDER.index)


def pii_kinds(*texts: str | None) -> list[str]:
    kinds = []
    joined = "\n".join(t for t in texts if t)
    if _EMAIL.search(joined):
        kinds.append("email")
    if _US_SSN.search(joined):
        kinds.append("us_ssn")
    return kinds


def assess(event: AuditEvent) -> Assessment:
    level = RiskLevel.LOW
    reasons: list[str] = []
    tags = set(event.compliance_tags) | set(BASELINE_TAGS)
    decision = (event.decision_type or "").lower()

    tags.update(DECISION_REGULATIONS.get(decision, ()))
    if decision in EU_AI_ACT_HIGH_RISK:
        tags.add("EU-AI-ACT-HIGH-RISK")
        level = _raise(level, RiskLevel.MEDIUM)
        reasons.append("high_risk_domain")
    if event.action is Action.REJECT:
        level = _raise(level, RiskLevel.MEDIUM)
        reasons.append("action_reject")
    if event.action is Action.FAIL_RETRY:
        level = _raise(level, RiskLevel.MEDIUM)
        reasons.append("action_fail_retry")
    if event.finish_reason == "content_filter" or "content_filter" in event.reason_codes:
        level = _raise(level, RiskLevel.HIGH)
        reasons.append("content_filter")
    if event.finish_reason in {"refusal"} or "refusal" in event.reason_codes:
        level = _raise(level, RiskLevel.HIGH)
        reasons.append("refusal")
    if event.confidence is not None and event.confidence < LOW_CONFIDENCE:
        level = _raise(level, RiskLevel.MEDIUM)
        reasons.append("low_confidence")
    outcome = (event.decision_outcome or "").lower()
    if outcome in ADVERSE_OUTCOMES:
        adverse_level = RiskLevel.HIGH if decision in EU_AI_ACT_HIGH_RISK else RiskLevel.MEDIUM
        level = _raise(level, adverse_level)
        reasons.append("adverse_outcome")
    pii = pii_kinds(event.prompt, event.response)
    if pii:
        level = _raise(level, RiskLevel.HIGH)
        reasons.extend(f"pii_{kind}" for kind in pii)
        tags.add("PII")
    if (
        level is RiskLevel.HIGH
        and decision in EU_AI_ACT_HIGH_RISK
        and outcome in ADVERSE_OUTCOMES
        and event.confidence is not None
        and event.confidence < LOW_CONFIDENCE
    ):
        level = RiskLevel.CRITICAL
        reasons.append("adverse_low_confidence_high_risk")
    return Assessment(level, tuple(reasons), tuple(sorted(tags)))

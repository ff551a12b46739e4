"""The enrichment policy: a declarative YAML file, validated at start-up with errors that name the line.

`Policy.assess` is a pure function of an event (and the PII found in it): the enricher stays
deterministic, and every tag and level is explained by `risk_reasons`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from audit_layer_schemas import Action, AuditEvent, RiskLevel
from audit_layer_schemas.pii import KINDS
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MIN_RETENTION_DAYS = 180
_ORDER = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecisionRule(_Strict):
    tags: list[str] = Field(default_factory=list)
    high_risk: bool = False
    retention: str | None = None


class Signals(_Strict):
    high_risk_domain: RiskLevel = RiskLevel.MEDIUM
    reject: RiskLevel = RiskLevel.MEDIUM
    fail_retry: RiskLevel = RiskLevel.MEDIUM
    content_filter: RiskLevel = RiskLevel.HIGH
    refusal: RiskLevel = RiskLevel.HIGH
    low_confidence_below: float = Field(default=0.5, ge=0, le=1)
    low_confidence: RiskLevel = RiskLevel.MEDIUM
    adverse_outcomes: list[str] = Field(default_factory=list)
    adverse_outcome: RiskLevel = RiskLevel.MEDIUM
    adverse_outcome_high_risk: RiskLevel = RiskLevel.HIGH
    pii: RiskLevel = RiskLevel.HIGH
    critical_combination: bool = True


PiiKind = Literal["email", "phone", "us_ssn", "payment_card", "iban", "ip_address"]
ALL_KINDS: list[PiiKind] = ["email", "phone", "us_ssn", "payment_card", "iban", "ip_address"]
assert tuple(ALL_KINDS) == KINDS


class PiiPolicy(_Strict):
    detect: list[PiiKind] = Field(default_factory=lambda: list(ALL_KINDS))
    action: Literal["tag", "mask", "drop"] = "tag"


class TenantOverride(_Strict):
    pii: PiiPolicy | None = None
    retention: str | None = None
    extra_tags: list[str] = Field(default_factory=list)
    decision_types: dict[str, DecisionRule] = Field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    risk_level: RiskLevel
    risk_reasons: tuple[str, ...]
    compliance_tags: tuple[str, ...]


class Policy(_Strict):
    version: str
    baseline_tags: list[str] = Field(default_factory=list)
    retention_classes: dict[str, int]
    default_retention: str
    decision_types: dict[str, DecisionRule] = Field(default_factory=dict)
    signals: Signals = Field(default_factory=Signals)
    pii: PiiPolicy = Field(default_factory=PiiPolicy)
    tenants: dict[str, TenantOverride] = Field(default_factory=dict)

    @field_validator("retention_classes")
    @classmethod
    def _six_months(cls, classes: dict[str, int]) -> dict[str, int]:
        for name, days in classes.items():
            if days < MIN_RETENTION_DAYS:
                raise ValueError(f"retention class {name} keeps {days} days; the EU AI Act requires at least "
                                 f"{MIN_RETENTION_DAYS} (six months)")
        return classes

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        known = set(self.retention_classes)
        used = [self.default_retention] + [r.retention for r in self.decision_types.values() if r.retention]
        used += [t.retention for t in self.tenants.values() if t.retention]
        used += [r.retention for t in self.tenants.values() for r in t.decision_types.values() if r.retention]
        for name in used:
            if name not in known:
                raise ValueError(f"retention class {name!r} is not defined in retention_classes")
        return self

    def pii_for(self, tenant: str) -> PiiPolicy:
        override = self.tenants.get(tenant)
        return override.pii if override is not None and override.pii is not None else self.pii

    def assess(self, event: AuditEvent, pii_kinds: list[str]) -> Assessment:
        override = self.tenants.get(event.tenant_id)
        decision = (event.decision_type or "").lower()
        rule = (override.decision_types.get(decision) if override else None) or self.decision_types.get(decision)
        s = self.signals
        level = RiskLevel.LOW
        reasons: list[str] = []

        def fire(reason: str, to: RiskLevel) -> None:
            nonlocal level
            level = max(level, to, key=_ORDER.index)
            reasons.append(reason)

        tags = set(event.compliance_tags) | set(self.baseline_tags)
        if override:
            tags.update(override.extra_tags)
        high_risk = rule is not None and rule.high_risk
        if rule is not None:
            tags.update(rule.tags)
        if high_risk:
            tags.add("EU-AI-ACT-HIGH-RISK")
            fire("high_risk_domain", s.high_risk_domain)
        if event.action is Action.REJECT:
            fire("action_reject", s.reject)
        if event.action is Action.FAIL_RETRY:
            fire("action_fail_retry", s.fail_retry)
        if event.finish_reason == "content_filter" or "content_filter" in event.reason_codes:
            fire("content_filter", s.content_filter)
        if event.finish_reason == "refusal" or "refusal" in event.reason_codes:
            fire("refusal", s.refusal)
        low_confidence = event.confidence is not None and event.confidence < s.low_confidence_below
        if low_confidence:
            fire("low_confidence", s.low_confidence)
        adverse = (event.decision_outcome or "").lower() in s.adverse_outcomes
        if adverse:
            fire("adverse_outcome", s.adverse_outcome_high_risk if high_risk else s.adverse_outcome)
        for kind in pii_kinds:
            fire(f"pii_{kind}", s.pii)
        if pii_kinds:
            tags.add("PII")
        if s.critical_combination and high_risk and adverse and low_confidence:
            fire("adverse_low_confidence_high_risk", RiskLevel.CRITICAL)
        retention = (override.retention if override and override.retention else None) or \
            (rule.retention if rule and rule.retention else None) or self.default_retention
        tags.add(f"RETENTION-{retention.upper()}")
        return Assessment(level, tuple(reasons), tuple(sorted(tags)))


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
    return None if node is None else node.start_mark.line + 1


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise PolicyError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy is a mapping with version, retention_classes, ...")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of(root, loc)
            where = f"{source}:{line}" if line else source
            lines.append(f"{where}: {'.'.join(map(str, loc)) or 'policy'}: {error['msg']}")
        raise PolicyError("invalid policy:\n  " + "\n  ".join(lines)) from None


def load_policy(path: Path | None = None) -> Policy:
    """The policy at `path`, or the default one shipped with the enricher."""
    if path is None:
        text = (resources.files("audit_layer_processors") / "default_policy.yaml").read_text()
        return parse_policy(text, "default_policy.yaml")
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from None
    return parse_policy(text, str(path))

"""How long a stored row is kept: the days of the retention class its RETENTION-* tag names (pure)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from audit_layer_ledger.evidence import Finding
from audit_layer_store.store import ClickHouseStore

log = logging.getLogger("audit_layer.retention")

# the EU AI Act (art. 26(6)): deployers keep the logs of high-risk systems at least six months
MIN_RETENTION_DAYS = 180
TAG_PREFIX = "RETENTION-"


@dataclass(frozen=True)
class RetentionPolicy:
    """Retention classes by name (as in the enrichment policy) and their days."""

    classes: Mapping[str, int] = field(default_factory=dict)
    default_days: int = MIN_RETENTION_DAYS

    def __post_init__(self) -> None:
        short = {name: days for name, days in self.classes.items() if days < MIN_RETENTION_DAYS}
        if short or self.default_days < MIN_RETENTION_DAYS:
            raise ValueError(f"retention below {MIN_RETENTION_DAYS} days: {short or self.default_days}")
        object.__setattr__(self, "_by_tag", {TAG_PREFIX + name.upper(): days for name, days in self.classes.items()})
        object.__setattr__(self, "_warned", set())

    def sql(self, tags_column: str) -> tuple[str, dict[str, object]]:
        """The same rule as `days_for`, as a ClickHouse expression over an Array(String) column."""
        by_tag: dict[str, int] = self._by_tag  # type: ignore[attr-defined]
        expr = (f"if(empty(arrayFilter(t -> startsWith(t, '{TAG_PREFIX}'), {tags_column})), {{rdefault:UInt16}}, "
                f"arrayMax(arrayMap(t -> transform(t, {{rtags:Array(String)}}, {{rdays:Array(UInt16)}}, "
                f"{{rdefault:UInt16}}), arrayFilter(t -> startsWith(t, '{TAG_PREFIX}'), {tags_column}))))")
        return expr, {"rtags": list(by_tag), "rdays": list(by_tag.values()), "rdefault": self.default_days}

    def days_for(self, tags: Iterable[str]) -> int:
        """The longest class the row's tags name; the default when it names none (or an unknown one)."""
        by_tag: dict[str, int] = self._by_tag  # type: ignore[attr-defined]
        days = 0
        for tag in tags:
            if tag.startswith(TAG_PREFIX):
                known = by_tag.get(tag)
                warned: set[str] = self._warned  # type: ignore[attr-defined]
                if known is None and tag not in warned:
                    warned.add(tag)
                    log.warning("retention tag %s is not among the sink's retention classes (start the sink with "
                                "the enricher's --policy): such rows are kept %d days", tag, self.default_days)
                days = max(days, known or self.default_days)
        return days or self.default_days


def policy_retention(policy: object) -> RetentionPolicy:
    """The retention classes of an enrichment policy (processors' Policy), as the sink keeps rows."""
    classes: Mapping[str, int] = policy.retention_classes  # type: ignore[attr-defined]
    return RetentionPolicy(classes, classes[policy.default_retention])  # type: ignore[attr-defined]


def default_retention() -> RetentionPolicy:
    from audit_layer_processors.policy import load_policy

    return policy_retention(load_policy())


def retention_findings(store: ClickHouseStore, tenant_id: str | None, retention: RetentionPolicy) -> list[Finding]:
    """Rows whose retention_days is not what their chained tags' retention class gives: shortened, a record
    would leave before its time; lengthened, it would outstay it."""
    expr, params = retention.sql("compliance_tags")
    where = "AND tenant_id = {tenant:String}" if tenant_id else ""
    rows = store.query(f"SELECT tenant_id, min(seq) FROM {store.database}.events FINAL "
                       f"WHERE retention_days != {expr} {where} GROUP BY tenant_id ORDER BY tenant_id",
                       parameters={**params, **({"tenant": tenant_id} if tenant_id else {})}).result_rows
    return [Finding(t, int(seq), "retention_mismatch", "the row's retention_days is not its retention class's "
                    "(from its chained compliance tags)") for t, seq in rows]

"""What verification finds: its value types, shared by the chain walk, the stored-row checks and the anchors."""

from __future__ import annotations

from dataclasses import dataclass, field

from audit_layer_schemas.chain import GENESIS_HASH
from audit_layer_schemas.checkpoint import CheckpointStatement
from audit_layer_schemas.merkle import GrowingFrontier


@dataclass(frozen=True)
class Finding:
    tenant_id: str
    seq: int
    problem: str  # stable code: hash_mismatch, prev_hash_mismatch, seq_gap, duplicate_seq, ...
    detail: str


@dataclass(frozen=True)
class StoredCheckpoint(CheckpointStatement):
    """A checkpoint as stored: the signed statement and its signature."""

    signature: bytes = b""
    note: str = ""  # the C2SP signed note of the same checkpoint (empty before notes existed)

    def statement(self) -> CheckpointStatement:
        return self


@dataclass
class TenantResult:
    tenant_id: str
    links: int = 0
    last_seq: int = 0
    head: bytes = GENESIS_HASH
    first_finding: Finding | None = None
    frontier: GrowingFrontier = field(default_factory=GrowingFrontier)
    checkpoints_verified: int = 0
    event_ids: set[str] = field(default_factory=set, repr=False)


@dataclass(frozen=True)
class AnchorSummary:
    """Where the trust of a verification came from, besides the database it checked."""

    sources: tuple[str, ...] = ()
    checkpoints: int = 0  # signed checkpoints the anchors hold

    @property
    def unanchored(self) -> bool:
        return not self.sources


@dataclass
class VerifyReport:
    tenants: dict[str, TenantResult] = field(default_factory=dict)
    # findings outside the chain walk: stored rows read twice or two ways, and what the anchors know
    other_findings: list[Finding] = field(default_factory=list)
    identical_twins: int = 0  # rows stored twice with the same content (benign; counted once)
    anchors: AnchorSummary = field(default_factory=AnchorSummary)

    @property
    def findings(self) -> list[Finding]:
        walk = [t.first_finding for t in self.tenants.values() if t.first_finding is not None]
        return sorted([*walk, *self.other_findings], key=lambda f: (f.tenant_id, f.seq, f.problem))

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def links(self) -> int:
        return sum(t.links for t in self.tenants.values())

    @property
    def checkpoints(self) -> int:
        return sum(t.checkpoints_verified for t in self.tenants.values())

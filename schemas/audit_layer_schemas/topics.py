"""Topic names of the pipeline. Every topic is keyed by tenant_id with the same partition count."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """The pipeline's topics; a prefix isolates one deployment (or one test run) from another."""

    prefix: str = ""

    @property
    def events(self) -> str:
        return f"{self.prefix}audit.events"

    @property
    def enriched(self) -> str:
        return f"{self.prefix}audit.events.enriched"

    @property
    def chained(self) -> str:
        return f"{self.prefix}audit.events.chained"

    @property
    def chain_heads(self) -> str:
        return f"{self.prefix}audit.chain-heads"

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}audit.checkpoints"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}audit.dlq"

    def all(self) -> list[str]:
        return [self.events, self.enriched, self.chained, self.chain_heads, self.checkpoints, self.dlq]

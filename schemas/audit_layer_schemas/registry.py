"""The Avro schemas this package ships, addressable by name and by fingerprint.

Readers resolve a message's writer schema by the fingerprint in its header, so every
version a producer may have written with must stay registered here (older versions go
in `avro/history/`); a new field needs a default so old and new readers both resolve it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import load_schema, to_parsing_canonical_form

from audit_layer_schemas.fingerprint import fingerprint_bytes

AVRO_DIR = Path(__file__).parent / "avro"

AUDIT_EVENT = "dev.auditlayer.AuditEvent"
ENRICHED_EVENT = "dev.auditlayer.EnrichedEvent"
CHAINED_EVENT = "dev.auditlayer.ChainedEvent"
CHAIN_HEAD = "dev.auditlayer.ChainHead"
CHECKPOINT = "dev.auditlayer.Checkpoint"


@dataclass(frozen=True)
class RegisteredSchema:
    name: str
    parsed: Any  # fastavro's parsed form; opaque to callers
    canonical_form: str
    fingerprint: bytes

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


class SchemaRegistry:
    """Schemas by full name (the current version) and by fingerprint (every version)."""

    def __init__(self) -> None:
        self._current: dict[str, RegisteredSchema] = {}
        self._by_fingerprint: dict[bytes, RegisteredSchema] = {}

    def register(self, schema: dict[str, Any] | str, *, current: bool = True) -> RegisteredSchema:
        parsed = fastavro.parse_schema(schema if isinstance(schema, dict) else json.loads(schema))
        name = parsed["name"] if isinstance(parsed, dict) else str(parsed)
        canonical = to_parsing_canonical_form(parsed)
        entry = RegisteredSchema(name, parsed, canonical, fingerprint_bytes(canonical))
        self._by_fingerprint[entry.fingerprint] = entry
        if current:
            self._current[name] = entry
        return entry

    def current(self, name: str) -> RegisteredSchema:
        try:
            return self._current[name]
        except KeyError:
            raise KeyError(f"no schema named {name!r}; known: {sorted(self._current)}") from None

    def by_fingerprint(self, fingerprint: bytes) -> RegisteredSchema | None:
        return self._by_fingerprint.get(fingerprint)

    def names(self) -> list[str]:
        return sorted(self._current)


def load_directory(registry: SchemaRegistry, directory: Path, *, current: bool) -> None:
    for path in sorted(directory.glob("*.avsc")):
        # load_schema resolves named types from sibling files called <fullname>.avsc
        schema = load_schema(str(path), _write_hint=False)
        assert isinstance(schema, dict), f"{path} must hold one record schema"
        registry.register(schema, current=current)


@lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    registry = SchemaRegistry()
    history = AVRO_DIR / "history"
    for version in sorted(history.iterdir()) if history.is_dir() else []:
        if version.is_dir():  # one folder per earlier version, so named types resolve within it
            load_directory(registry, version, current=False)
    load_directory(registry, AVRO_DIR, current=True)
    return registry

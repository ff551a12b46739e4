"""The wire contract (audit_layer_schemas) ships inside the SDK wheel: taken from ../schemas in the
repository, and from the sdist's own copy when the wheel is built from the sdist (`python -m build`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class SchemasHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        for source in (root.parent / "schemas" / "audit_layer_schemas", root / "audit_layer_schemas"):
            if (source / "__init__.py").is_file():
                build_data["force_include"][str(source)] = "audit_layer_schemas"
                return
        raise FileNotFoundError(f"audit_layer_schemas is neither in {root.parent / 'schemas'} nor in {root}")

"""The wire contract (audit_layer_schemas) ships inside the SDK's sdist and wheel: taken from ../schemas in the
repository, and from the sdist's own copy when the wheel is built from the sdist (`python -m build`).

File by file, leaving out what a build of the repository leaves there: the compiled Avro reader (`make install`
builds it for this machine; the SDK is a pure-Python wheel and reads with fastavro) and bytecode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LEFT_OUT = {".so", ".pyd", ".pyc"}


class SchemasHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        for source in (root.parent / "schemas" / "audit_layer_schemas", root / "audit_layer_schemas"):
            if (source / "__init__.py").is_file():
                for path in sorted(source.rglob("*")):
                    if path.is_file() and path.suffix not in LEFT_OUT and "__pycache__" not in path.parts:
                        build_data["force_include"][str(path)] = f"audit_layer_schemas/{path.relative_to(source)}"
                return
        raise FileNotFoundError(f"audit_layer_schemas is neither in {root.parent / 'schemas'} nor in {root}")

"""How the CLI writes JSON: bytes as hex, anything else JSON cannot hold as its text."""

from __future__ import annotations

import json


def _json_default(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def dumps(value: object) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)

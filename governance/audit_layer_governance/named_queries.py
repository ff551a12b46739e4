"""The named queries in `queries/*.sql`: documented SQL, run with typed parameters.

A query's parameters are its `{name:Type}` placeholders, bound by ClickHouse itself (never
pasted into the text); its description is its leading comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from audit_layer_store.store import ClickHouseStore

_PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str

    @property
    def params(self) -> dict[str, str]:
        """Parameter name -> ClickHouse type, in order of first use."""
        return {m.group(1): m.group(2) for m in _PLACEHOLDER.finditer(self.sql)}

    def bind(self, given: dict[str, str]) -> dict[str, str]:
        missing = [f"{n} ({t})" for n, t in self.params.items() if n not in given]
        unknown = sorted(set(given) - set(self.params))
        if missing or unknown:
            parts = []
            if missing:
                parts.append("missing --param " + ", ".join(missing))
            if unknown:
                parts.append("unknown parameter " + ", ".join(unknown))
            raise QueryError(f"query {self.name}: {'; '.join(parts)}; it takes "
                             + ", ".join(f"{n} ({t})" for n, t in self.params.items()))
        return dict(given)


def load_queries() -> dict[str, NamedQuery]:
    folder = resources.files("audit_layer_governance") / "queries"
    queries = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        text = entry.read_text()
        comment = []
        for line in text.splitlines():
            if not line.startswith("--"):
                break
            if not line.startswith("-- Example:"):
                comment.append(line[2:].strip())
        name = entry.name[:-len(".sql")]
        queries[name] = NamedQuery(name, " ".join(comment), text)
    return queries


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise QueryError(f"--param {pair!r}: write NAME=VALUE, e.g. --param tenant=acme")
        params[name] = value
    return params


def run_named(store: ClickHouseStore, query: NamedQuery, params: dict[str, str]) -> Any:
    return store.query(query.sql.replace("{db}", store.database), parameters=query.bind(params))

"""SQL from outside the project (`audit-layer query`, other processes through the engine's owner) may not
make the embedded engine's client side read or write files: chDB runs `FROM INFILE` and `INTO OUTFILE` in
the calling process, past the grants that keep file() and friends away from the keys (store.py)."""

from __future__ import annotations

import re

# keywords are single tokens, so no comment or quoting can split one and still be the keyword
_CLIENT_FILES = re.compile(r"\b(INFILE|OUTFILE)\b", re.IGNORECASE)


class ForbiddenSql(ValueError):
    pass


def refuse_client_files(sql: str) -> None:
    found = _CLIENT_FILES.search(sql)
    if found:
        raise ForbiddenSql(f"Code: 497. DB::Exception: {found.group(1).upper()} is not allowed here: the engine "
                           "reads and writes no files for SQL callers (ACCESS_DENIED)")

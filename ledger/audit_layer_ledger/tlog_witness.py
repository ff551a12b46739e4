"""A client of any c2sp.org/tlog-witness witness (litewitness, the transparency-dev witness, ...): it feeds a
tenant's signed checkpoints, each with the consistency proof from the size the witness last cosigned, and
keeps the cosignatures. A witness that refuses because the log no longer extends what it cosigned (422), or
that holds a larger tree than the log (409 with a size beyond the newest checkpoint), is an alarm."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit_layer_ledger.witness import WitnessAlarm


class WitnessUnusable(RuntimeError):
    """The witness does not serve this log (404), trusts no key of it (403), or cannot be reached."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: str


def request_body(old_size: int, proof: list[bytes], note: str) -> bytes:
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old_size}\n{lines}\n{note}".encode()


def add_checkpoint(url: str, old_size: int, proof: list[bytes], note: str, timeout: float = 30.0) -> Reply:
    req = urllib.request.Request(url.rstrip("/") + "/add-checkpoint", data=request_body(old_size, proof, note),
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Reply(response.status, response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode(errors="replace"))
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessUnusable(f"witness {url} cannot be reached: {exc}") from None


def submit(url: str, checkpoints: list[dict[str, Any]], consistency: Callable[[int, int], list[str]]) -> list[str]:
    """Feed the checkpoints (with notes, oldest first) to the witness; returns its cosignature lines."""
    signed = sorted((cp for cp in checkpoints if cp.get("note")), key=lambda cp: cp["last_seq"])
    if not signed:
        return []
    newest = signed[-1]["last_seq"]
    witnessed, cosignatures = 0, []
    for cp in signed:
        size = cp["last_seq"]
        if size < witnessed:
            continue
        for _attempt in range(3):
            proof = [bytes.fromhex(h) for h in consistency(witnessed, size)] if 0 < witnessed < size else []
            reply = add_checkpoint(url, witnessed, proof, cp["note"])
            if reply.status != 409:
                break
            try:
                witnessed = int(reply.body.strip())
            except ValueError:
                raise WitnessUnusable(f"witness {url} answered 409 without its size: {reply.body[:100]!r}") from None
            if witnessed > newest:
                raise WitnessAlarm(f"rollback: the witness cosigned size {witnessed}, the log's newest checkpoint "
                                   f"is size {newest}", {"witness_size": witnessed, "log_newest": newest})
            if witnessed > size:
                break  # it already holds a larger tree of this log: this checkpoint is behind it
        else:
            raise WitnessUnusable(f"witness {url} kept answering 409 for size {size}")
        if reply.status == 409:
            continue
        if reply.status == 422:
            raise WitnessAlarm(f"the witness refuses size {size}: it does not extend the tree it cosigned at size "
                               f"{witnessed} (a fork or rewrite)", {"checkpoint": cp, "witness_size": witnessed})
        if reply.status in (403, 404):
            raise WitnessUnusable(f"witness {url} does not accept this log ({reply.status}): {reply.body.strip()}")
        if reply.status != 200:
            raise WitnessUnusable(f"witness {url} answered {reply.status}: {reply.body.strip()[:200]}")
        cosignatures.append(reply.body)
        witnessed = size
    return cosignatures

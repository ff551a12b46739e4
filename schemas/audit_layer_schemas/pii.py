"""Detectors of personal data in prompts and responses, with checks that keep false alarms down
(Luhn for card numbers, ISO 13616 mod-97 for IBANs, octet ranges for IP addresses).

Shared by the enricher (tenant policy: tag, mask, drop) and the SDK (capture mode `redacted`)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("email", "phone", "us_ssn", "payment_card", "iban", "ip_address")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    text = candidate.replace(" ", "").upper()
    if not 15 <= len(text) <= 34:
        return False
    rearranged = text[4:] + text[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ip_ok(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


_Check = Callable[[str], bool]
_DETECTORS: list[tuple[str, re.Pattern[str], _Check | None]] = [
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), None),
    ("us_ssn", re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)"), None),
    ("payment_card", re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"),
     lambda s: luhn_ok(re.sub(r"\D", "", s))),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), iban_ok),
    ("ip_address", re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])|"
                              r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])"), _ip_ok),
    # North American 3-3-4, or international with a + country code
    ("phone", re.compile(r"(?<![\w+])(?:\+1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)|"
                         r"(?<![\w+])\+\d{1,3}(?:[ .-]\d{2,5}){2,4}(?!\d)"), None),
]


def detect(text: str | None, kinds: tuple[str, ...] = KINDS) -> list[Finding]:
    """Non-overlapping findings, earlier detectors first (a card number is not also a phone number)."""
    if not text:
        return []
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern, check in _DETECTORS:
        if kind not in kinds:
            continue
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e in taken):
                continue
            if check is not None and not check(match.group()):
                continue
            found.append(Finding(kind, start, end))
            taken.append((start, end))
    return sorted(found, key=lambda f: f.start)


def mask(text: str, findings: list[Finding]) -> str:
    parts, last = [], 0
    for f in findings:
        parts.append(text[last:f.start])
        parts.append(f"[{f.kind.upper()}]")
        last = f.end
    parts.append(text[last:])
    return "".join(parts)

"""Detectors of personal data in prompts and responses, with checks that keep false alarms down
(Luhn for card numbers, ISO 13616 mod-97 for IBANs, octet ranges for IP addresses).

Shared by the enricher (tenant policy: tag, mask, drop) and the SDK (capture mode `redacted`)."""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterator
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
_Spans = Callable[[str], Iterator[tuple[int, int]]]
_LOCAL_PART = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def _emails(text: str) -> Iterator[tuple[int, int]]:
    """What `[local]+@domain` finds, anchored at each '@'. The plain regex retries the local part from
    every position of a long run of letters with no '@' after it: quadratic, minutes for a 512 KiB
    prompt. From the '@' the local part is the run of its characters to the left, so this is linear."""
    floor = 0  # matches do not overlap
    at = text.find("@")
    while at != -1:
        start = at
        while start > floor and text[start - 1] in _LOCAL_PART:
            start -= 1
        domain = _DOMAIN.match(text, at + 1) if start < at else None
        if domain is not None:
            yield start, domain.end()
            floor = domain.end()
        at = text.find("@", max(at + 1, floor))


def _regex(pattern: str, needs: Callable[[str], object] | None = None) -> _Spans:
    """`needs`: a test every text with a match passes, far cheaper than the pattern (every event's prompt and
    response is scanned by each detector; most contain no personal data)."""
    compiled = re.compile(pattern)
    if needs is None:
        return lambda text: (m.span() for m in compiled.finditer(text))
    return lambda text: (m.span() for m in compiled.finditer(text)) if needs(text) else iter(())


# Each pattern starts with the set a match's first character is in, its "not preceded by" conditions checked
# after it: Python's regex engine then skips in C to the positions that can start a match, where a leading
# lookbehind or a choice of patterns makes it try every position (~0.5 ms for 2 KB of prose, against ~0.2 ms
# now). `(?<!\d)\d` is `\d(?<!\d\d)`, `\b[A-Z]` is `[A-Z](?<!\w\w)`, and a choice becomes one branch per
# first character, in the same order. tests/unit/test_pii.py holds each to its plain form.
_PHONE_TAIL = re.compile(r"\d\d\d[ .-]\d\d\d\d")  # in every North American match
_DIGIT_DOT_DIGIT = re.compile(r"\d\.\d")  # in every IPv4 match

_DETECTORS: list[tuple[str, _Spans, _Check | None]] = [
    ("email", _emails, None),
    ("us_ssn", _regex(r"\d(?<!\d\d)\d\d(?<!000)(?<!666)(?<!9\d\d)-(?!00)\d{2}-(?!0000)\d{4}(?!\d)",
                      needs=lambda t: t.count("-") >= 2), None),
    ("payment_card", _regex(r"\d(?<!\d\d)[ -]?(?:\d[ -]?){11,17}\d(?!\d)"),
     lambda s: luhn_ok(re.sub(r"\D", "", s))),
    ("iban", _regex(r"[A-Z](?<!\w\w)[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}\b"), iban_ok),
    # IPv4, or IPv6 whose first character is a hex digit or its first ':'
    ("ip_address", _regex(r"[0-9A-Fa-f:](?:"
                          r"(?<=\d)(?<![\d.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\d.])|"
                          r"(?<=[0-9A-Fa-f])(?<![0-9A-Fa-f:][0-9A-Fa-f])[0-9A-Fa-f]{0,3}(?::[0-9A-Fa-f]{0,4}){2,7}"
                          r"(?![0-9A-Fa-f:])|"
                          r"(?<=:)(?<![0-9A-Fa-f:]:)[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,6}(?![0-9A-Fa-f:]))",
                          needs=lambda t: t.count(":") >= 2 or (t.count(".") >= 3 and _DIGIT_DOT_DIGIT.search(t))),
     _ip_ok),
    # North American 3-3-4, or international with a + country code
    # by its first character: +1 then a North American number, '(' area code, a digit, or + country code
    ("phone", _regex(r"[+(\d](?<![\w+].)(?:"
                     r"(?<=\+)1[ .-]?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)|"
                     r"(?<=\()\d{3}\) ?\d{3}[ .-]\d{4}(?!\d)|"
                     r"(?<=\d)\d{2}[ .-]\d{3}[ .-]\d{4}(?!\d)|"
                     r"(?<=\+)\d{1,3}(?:[ .-]\d{2,5}){2,4}(?!\d))",
                     needs=lambda t: "+" in t or _PHONE_TAIL.search(t)), None),
]


def detect(text: str | None, kinds: tuple[str, ...] = KINDS) -> list[Finding]:
    """Non-overlapping findings, earlier detectors first (a card number is not also a phone number)."""
    if not text:
        return []
    found: list[Finding] = []
    # the spans taken so far, disjoint and sorted: an overlap can only be with a neighbour
    starts: list[int] = []
    ends: list[int] = []
    for kind, spans, check in _DETECTORS:
        if kind not in kinds:
            continue
        for start, end in spans(text):
            i = bisect.bisect_right(starts, start)
            if (i and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
                continue
            if check is not None and not check(text[start:end]):
                continue
            found.append(Finding(kind, start, end))
            starts.insert(i, start)
            ends.insert(i, end)
    return sorted(found, key=lambda f: f.start)


def mask(text: str, findings: list[Finding]) -> str:
    parts, last = [], 0
    for f in findings:
        parts.append(text[last:f.start])
        parts.append(f"[{f.kind.upper()}]")
        last = f.end
    parts.append(text[last:])
    return "".join(parts)

"""What cannot be recorded whole is recorded in part and flagged, never dropped (pure).

An audited call always becomes an event. A value the event schema cannot hold is made to fit and the
event says so, in its reason codes (which the enrichment rules and the console show) and its metadata:

- text over MAX_CONTENT_CHARS is cut there (`content_truncated`); the metadata keep the whole text's
  length and its salted digest, so the original can still be matched;
- bytes are decoded (invalid UTF-8 escaped), other objects written as JSON, lone surrogates escaped
  (`content_escaped`, `content_stringified`);
- metadata or prompts that JSON cannot write (nested too deep, cyclic, odd types) are written as a bounded
  repr (`metadata_stringified`);
- an action name in any case is understood; an unknown one is FAIL_RETRY (`invalid_action`) with the
  given name kept;
- any other field that still does not validate is moved, as text, into the metadata (`invalid_field`).
Only a missing or malformed tenant id cannot be salvaged: the event would belong to no one.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Callable, Mapping
from typing import Any

from audit_layer_schemas import Action, sha256_hex
from audit_layer_schemas.models import MAX_CONTENT_CHARS, MAX_ID_CHARS

TEXT_FIELDS = ("prompt", "response", "reasoning")
ID_FIELDS = ("user_id", "session_id", "trace_id", "span_id", "provider", "operation", "model", "response_model",
             "finish_reason", "error_type", "decision_type", "decision_outcome")
# fields the event cannot go without: never moved into the metadata
ESSENTIAL = frozenset({"event_id", "timestamp_us", "tenant_id", "action", "sdk_name", "sdk_version", "metadata",
                       "content_salt"})
PREFIX = "audit_layer."

_bounded = reprlib.Repr()
_bounded.maxlevel, _bounded.maxstring, _bounded.maxother = 6, 2000, 2000


class Flags:
    """The reason codes and metadata a salvage adds to its event."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.metadata: dict[str, str] = {}

    def add(self, reason: str, **metadata: Any) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        for key, value in metadata.items():
            self.metadata[PREFIX + key] = value if isinstance(value, str) else json.dumps(value)


def escaped(text: str) -> str:
    """The text with lone surrogates written as \\udxxx (UTF-8 cannot hold them)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _utf8_safe(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_json(value: Any, flags: Flags, what: str, dumps: Callable[[Any], str]) -> str:
    """`dumps(value)`, or a bounded repr (flagged) when JSON cannot write it."""
    try:
        text = dumps(value)
    except (RecursionError, ValueError, TypeError):
        flags.add("metadata_stringified", stringified=what)
        return _bounded.repr(value)
    if not _utf8_safe(text):
        flags.add("content_escaped")
        return escaped(text)
    return text


def as_text(value: Any, flags: Flags, name: str) -> str | None:
    """A content field as a UTF-8-safe string (not yet cut to length)."""
    if value is None or isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", "backslashreplace")
        flags.add("content_stringified", **{f"{name}_was": "bytes"})
    else:
        text = safe_json(value, flags, name, lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True,
                                                                     default=str))
        flags.add("content_stringified", **{f"{name}_was": type(value).__name__})
    if text is not None and not _utf8_safe(text):
        flags.add("content_escaped")
        text = escaped(text)
    return text


def cut_text(values: dict[str, Any], salt: str, flags: Flags) -> None:
    """Content over the limit cut to it; its whole length and salted digest kept in the metadata."""
    for name in TEXT_FIELDS:
        text = values.get(name)
        if isinstance(text, str) and len(text) > MAX_CONTENT_CHARS:
            flags.add("content_truncated", **{f"{name}_chars": str(len(text)),
                                              f"{name}_full_sha256": sha256_hex(text, salt) or ""})
            values[name] = text[:MAX_CONTENT_CHARS]


def action_of(value: Any, flags: Flags) -> Action:
    if isinstance(value, Action):
        return value
    try:
        return Action(str(value).strip().upper())
    except ValueError:
        flags.add("invalid_action", given_action=_bounded.repr(value)[:MAX_ID_CHARS])
        return Action.FAIL_RETRY


def fit_ids(values: dict[str, Any], flags: Flags) -> None:
    for name in ID_FIELDS:
        value = values.get(name)
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if not _utf8_safe(text):
            text = escaped(text)
            flags.add("content_escaped")
        if len(text) > MAX_ID_CHARS:
            flags.add("content_truncated", **{f"{name}_chars": str(len(text))})
            text = text[:MAX_ID_CHARS]
        values[name] = text


def fit_map(values: Mapping[str, Any] | None, flags: Flags) -> dict[str, str]:
    """A string map (metadata, model parameters) whose keys and values UTF-8 can hold."""
    out: dict[str, str] = {}
    for key, value in (values or {}).items():
        text = value if isinstance(value, str) else str(value)
        name = key if isinstance(key, str) else str(key)
        if not (_utf8_safe(text) and _utf8_safe(name)):
            flags.add("content_escaped")
            text, name = escaped(text), escaped(name)
        out[name] = text
    return out


def move_invalid(values: dict[str, Any], fields: list[str], flags: Flags) -> bool:
    """Fields that still do not validate, moved as text into the metadata; False when one is essential."""
    for name in fields:
        if name in ESSENTIAL:
            return False
        if name in values:
            flags.add("invalid_field", **{f"invalid.{name}": _bounded.repr(values.pop(name))[:2000]})
    return True

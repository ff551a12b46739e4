"""A stored prompt and response read back as the messages they were (pure).

The SDKs store structured prompts as JSON: OpenAI's message list, Anthropic's `system` beside its
messages, LangChain's `{role, content}` pairs, content given as parts. Text that is not one of
these is shown as a single message, exactly as stored: nothing is dropped to make it look tidy.
"""

from __future__ import annotations

import json
from typing import Any

from audit_layer_governance.reports.document import Message

_ROLES = {"human": "user", "ai": "assistant", "developer": "system", "function": "tool", "model": "assistant"}
_CALL_KEYS = ("tool_calls", "tool_use", "function_calls")


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict) and part.get("type") in ("tool_result", "tool_use"):
                parts.append(json.dumps(part, ensure_ascii=False, sort_keys=True))
            elif isinstance(part, str):
                parts.append(part)
            else:
                parts.append(json.dumps(part, ensure_ascii=False, sort_keys=True, default=str))
        return "\n".join(parts)
    return json.dumps(content, ensure_ascii=False, sort_keys=True, default=str)


def _calls(calls: Any) -> list[Message]:
    out = []
    for call in calls if isinstance(calls, list) else [calls]:
        if not isinstance(call, dict):
            out.append(Message("tool call", _text_of(call)))
            continue
        inner = call.get("function")
        function: dict[str, Any] = inner if isinstance(inner, dict) else call
        name = str(function.get("name") or call.get("name") or "")
        arguments = function.get("arguments", function.get("input", ""))
        out.append(Message("tool call", arguments if isinstance(arguments, str) else
                           json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str), name))
    return out


def _message(item: dict[str, Any]) -> list[Message]:
    role = str(item.get("role") or item.get("type") or "user")
    role = _ROLES.get(role, role)
    out = []
    text = _text_of(item.get("content"))
    if text or not any(item.get(k) for k in _CALL_KEYS):
        out.append(Message(role, text, str(item.get("name") or "")))
    for key in _CALL_KEYS:
        if item.get(key):
            out.extend(_calls(item[key]))
    return out


def prompt_messages(prompt: str | None) -> tuple[Message, ...]:
    if prompt is None:
        return ()
    try:
        value = json.loads(prompt)
    except ValueError:
        return (Message("user", prompt),)
    messages: list[Message] = []
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        if value.get("system"):
            messages.append(Message("system", _text_of(value["system"])))
        value = value["messages"]
    if isinstance(value, list) and value and all(isinstance(v, dict) and ("role" in v or "type" in v)
                                                 for v in value):
        for item in value:
            messages.extend(_message(item))
        return tuple(messages)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(Message("user", v) for v in value)
    return (Message("user", prompt),)


def response_messages(response: str | None) -> tuple[Message, ...]:
    if response is None:
        return ()
    try:
        value = json.loads(response)
    except ValueError:
        return (Message("assistant", response),)
    if isinstance(value, dict) and any(k in value for k in _CALL_KEYS):
        out = [Message("assistant", _text_of(value.get("text")))] if value.get("text") else []
        for key in _CALL_KEYS:
            if value.get(key):
                out.extend(_calls(value[key]))
        return tuple(out)
    if isinstance(value, list) and value and all(isinstance(v, dict) and ("name" in v or "function" in v)
                                                 for v in value):
        return tuple(_calls(value))
    return (Message("assistant", response),)

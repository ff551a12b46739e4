"""Provider outcomes as audit actions: OpenAI's finish reasons (Anthropic's stop reasons live beside its
adapter)."""

from __future__ import annotations

from audit_layer_schemas import Action


def finish_reason_action(finish_reason: str | None) -> tuple[Action, list[str]]:
    if finish_reason == "content_filter":
        return Action.REJECT, ["content_filter"]
    if finish_reason == "length":
        return Action.ALLOW, ["truncated_by_length"]
    return Action.ALLOW, []

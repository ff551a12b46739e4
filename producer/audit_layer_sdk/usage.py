"""Token usage beyond input/output (cache reads and writes, reasoning) and its cost.

Counts follow OpenTelemetry's gen_ai conventions: cached and cache-written tokens are part of
`input_tokens`, reasoning tokens part of `output_tokens` (Anthropic reports cache tokens beside
its input tokens; the wrapper adds them in). They travel in the event's metadata under their
`gen_ai.usage.*` names, with the cost under `audit_layer.cost.usd`.

Prices change and differ per contract, so none are built in: a deployment supplies its own
table (`AuditConfig(prices=PriceTable.load(path))` or `AUDIT_LAYER_PRICES=path`), a JSON file

    {"currency": "USD", "models": {"gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6}}}

with prices per million tokens. A model matches its longest listed prefix, so dated snapshots
(`gpt-4o-mini-2024-07-18`) use their family's price.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
REASONING = "gen_ai.usage.reasoning.output_tokens"
COST = "audit_layer.cost.usd"

_MILLION = Decimal(1_000_000)


class PriceTableError(ValueError):
    """The price file is missing, not JSON, or has a bad entry; the message names which."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None

    def metadata(self) -> dict[str, int]:
        extra = {CACHE_READ: self.cache_read_input_tokens, CACHE_CREATION: self.cache_creation_input_tokens,
                 REASONING: self.reasoning_output_tokens}
        return {k: v for k, v in extra.items() if v is not None}


@dataclass(frozen=True)
class ModelPrice:
    """Prices per million tokens; cache prices default to the input price when not listed."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None

    def cost(self, usage: Usage) -> Decimal | None:
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        cached = usage.cache_read_input_tokens or 0
        written = usage.cache_creation_input_tokens or 0
        fresh = max(0, (usage.input_tokens or 0) - cached - written)
        total = (fresh * self.input + cached * (self.cached_input if self.cached_input is not None else self.input)
                 + written * (self.cache_write if self.cache_write is not None else self.input)
                 + (usage.output_tokens or 0) * self.output)
        return total / _MILLION


@dataclass(frozen=True)
class PriceTable:
    models: Mapping[str, ModelPrice]
    currency: str = "USD"

    def price(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        best = max((name for name in self.models if model.startswith(name)), key=len, default=None)
        return None if best is None else self.models[best]

    def cost(self, model: str | None, usage: Usage) -> Decimal | None:
        price = self.price(model)
        return None if price is None else price.cost(usage)

    @classmethod
    def from_mapping(cls, data: Any, source: str = "price table") -> PriceTable:
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise PriceTableError(f'{source}: expected {{"models": {{"<model>": {{"input": ..., "output": ...}}}}}}')
        currency = data.get("currency", "USD")
        if currency != "USD":
            raise PriceTableError(f"{source}: currency {currency!r}: only USD is supported")
        models = {}
        for name, entry in data["models"].items():
            if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
                raise PriceTableError(f"{source}: model {name!r} needs 'input' and 'output' prices per 1M tokens")
            unknown = set(entry) - {"input", "output", "cached_input", "cache_write"}
            if unknown:
                raise PriceTableError(f"{source}: model {name!r}: unknown keys {sorted(unknown)}")
            try:
                prices = {k: Decimal(str(v)) for k, v in entry.items()}
            except ArithmeticError:
                raise PriceTableError(f"{source}: model {name!r}: prices must be numbers") from None
            if any(p < 0 for p in prices.values()):
                raise PriceTableError(f"{source}: model {name!r}: prices must not be negative")
            models[name] = ModelPrice(**prices)
        return cls(models=models, currency=currency)

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PriceTableError(f"{path}: cannot read the price table: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise PriceTableError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
        return cls.from_mapping(data, str(path))

"""The price table: loading, clear errors, prefix matching and cost arithmetic (no broker)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from audit_layer_sdk import AuditConfig, AuditConfigError
from audit_layer_sdk.usage import ModelPrice, PriceTable, PriceTableError, Usage


def test_longest_prefix_wins_and_unknown_models_have_no_cost() -> None:
    table = PriceTable.from_mapping({"models": {"gpt-4o": {"input": 2.5, "output": 10},
                                                "gpt-4o-mini": {"input": 0.15, "output": 0.6}}})
    assert table.price("gpt-4o-mini-2024-07-18") == ModelPrice(Decimal("0.15"), Decimal("0.6"))
    assert table.price("gpt-4o-2024-08-06") == ModelPrice(Decimal("2.5"), Decimal("10"))
    assert table.cost("llama-3", Usage(10, 10)) is None and table.cost(None, Usage(10, 10)) is None


def test_cost_splits_fresh_cached_and_written_input() -> None:
    price = ModelPrice(input=Decimal(3), output=Decimal(15), cached_input=Decimal("0.3"), cache_write=Decimal("3.75"))
    usage = Usage(input_tokens=1070, output_tokens=30, cache_read_input_tokens=1000, cache_creation_input_tokens=50)
    assert price.cost(usage) == (Decimal(20 * 3) + Decimal("300") + Decimal("187.5") + Decimal(450)) / 1_000_000
    no_cache_prices = ModelPrice(input=Decimal(1), output=Decimal(2))
    assert no_cache_prices.cost(usage) == Decimal(1070 + 60) / 1_000_000  # cache tokens at the input price
    assert price.cost(Usage()) is None


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "prices.json:1: not JSON"),
    (json.dumps({"gpt": {"input": 1}}), "expected"),
    (json.dumps({"models": {"gpt": {"input": 1}}}), "'gpt' needs 'input' and 'output'"),
    (json.dumps({"models": {"gpt": {"input": 1, "output": 2, "cachd": 1}}}), "unknown keys ['cachd']"),
    (json.dumps({"models": {"gpt": {"input": "cheap", "output": 2}}}), "must be numbers"),
    (json.dumps({"models": {"gpt": {"input": -1, "output": 2}}}), "must not be negative"),
    (json.dumps({"currency": "EUR", "models": {}}), "only USD"),
])
def test_bad_price_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(PriceTableError, match=re.escape(message)):
        PriceTable.load(path)


def test_env_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(AuditConfigError, match=r"AUDIT_LAYER_PRICES: .*cannot read"):
        AuditConfig.from_env({"AUDIT_LAYER_PRICES": str(tmp_path / "missing.json")})
    good = tmp_path / "prices.json"
    good.write_text(json.dumps({"models": {"m": {"input": 1, "output": 1}}}))
    config = AuditConfig.from_env({"AUDIT_LAYER_PRICES": str(good)})
    assert config.prices is not None and config.prices.price("m-1") is not None

"""A restored chain head must agree with the chained tail and the signed checkpoints (pure)."""

from __future__ import annotations

from audit_layer_processors.chain_state import Head
from audit_layer_processors.head_check import Seen, head_problems

H100, H50, OTHER = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def test_a_head_that_agrees_resumes() -> None:
    heads = {"a": Head(100, H100, last_checkpoint_seq=50)}
    assert head_problems(heads, {"a": Seen(100, H100)}, {"a": Seen(50, H50)}) == []
    assert head_problems({}, {}, {}) == []


def test_a_rolled_back_head_stops() -> None:
    [problem] = head_problems({"a": Head(50, H50, last_checkpoint_seq=50)}, {"a": Seen(100, H100)}, {})
    assert "rolled-back" in problem and "seq 50" in problem


def test_a_rolled_back_head_below_its_checkpoint_stops_when_the_tail_no_longer_shows_it() -> None:
    [problem] = head_problems({"a": Head(40, H50, last_checkpoint_seq=25)}, {}, {"a": Seen(50, H50)})
    assert "below its signed checkpoint" in problem


def test_a_deleted_head_stops() -> None:
    problems = head_problems({}, {"a": Seen(100, H100)}, {"b": Seen(25, H50)})
    assert len(problems) == 2 and all("no chain head" in p for p in problems)


def test_a_head_from_elsewhere_stops() -> None:
    assert "claims seq 120" in head_problems({"a": Head(120, H100)}, {"a": Seen(100, H100)}, {})[0]
    assert "hash" in head_problems({"a": Head(100, OTHER)}, {"a": Seen(100, H100)}, {})[0]
    assert "signed one" in head_problems({"a": Head(50, OTHER, last_checkpoint_seq=50)}, {}, {"a": Seen(50, H50)})[0]
    assert "does not know" in head_problems({"a": Head(60, H100, last_checkpoint_seq=0)}, {}, {"a": Seen(50, H50)})[0]

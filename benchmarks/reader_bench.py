"""The compiled Avro reader against fastavro, side by side in one process, no broker.

    python benchmarks/reader_bench.py --events 20000 --rounds 5

1. Decoding: the workers' three message kinds (the SDK's raw event, the enriched event, the chained event)
   through `AvroCodec.decode` with each reader, rounds alternating; µs per message.
2. The enriching sequencer's per-event step (`EnrichStep.process`: decode, validate, enrich, encode the
   message and its link body) with each reader, rounds alternating; µs per event.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from audit_layer_cli.common import positive
from audit_layer_processors.enrich_step import Enriched, EnrichStep
from audit_layer_processors.policy import load_policy
from audit_layer_schemas import AUDIT_EVENT, CHAINED_EVENT, ENRICHED_EVENT, AvroCodec, Topics
from audit_layer_schemas.datum_reader import READER_VARIABLE, compiled_reader_built

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.figures import publish
from benchmarks.pipeline_bench import encoded_events

READERS = ("fastavro", "compiled")


@contextmanager
def reader(name: str) -> Iterator[None]:
    """Codecs made and first used inside pick this reader (each codec keeps the one of its first decode)."""
    before = os.environ.get(READER_VARIABLE)
    os.environ[READER_VARIABLE] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(READER_VARIABLE)
        else:
            os.environ[READER_VARIABLE] = before


def per_item_us(call: Callable[..., object], arguments: list[tuple[object, ...]]) -> float:
    start = time.perf_counter()
    for args in arguments:
        call(*args)
    return (time.perf_counter() - start) / len(arguments) * 1e6


def messages(n: int) -> tuple[list[bytes], dict[str, list[bytes]]]:
    """The raw events' keys (their tenants), and each kind's messages."""
    keys, raw = zip(*encoded_events(n), strict=True)
    step = EnrichStep(Topics(), load_policy(), 3)
    enriched, chained = [], []
    chained_codec = AvroCodec(CHAINED_EVENT)
    for i, (key, value) in enumerate(zip(keys, raw, strict=True)):
        done = step.process(key, value, "audit.events", 0, i)
        assert isinstance(done, Enriched)
        enriched.append(done.value)
        chained.append(chained_codec.encode({"event": done.record, "seq": i + 1, "prev_hash": bytes(32),
                                             "hash": bytes([i % 256]) * 32, "link_schema": "ab" * 8}))
    return list(keys), {AUDIT_EVENT: list(raw), ENRICHED_EVENT: enriched, CHAINED_EVENT: chained}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=positive, default=20_000, help="messages of each kind (default 20,000)")
    parser.add_argument("--rounds", type=positive, default=5, help="alternating rounds per reader (default 5)")
    parser.add_argument("--json", type=Path, default=Path("bench-results/reader.json"))
    args = parser.parse_args()
    if not compiled_reader_built():
        parser.error("the compiled reader is not built: run `make install` (it needs cargo)")

    keys, kinds = messages(args.events)
    results: dict[str, float] = {}
    targets: dict[str, str] = {}
    for kind, data in kinds.items():
        timings: dict[str, list[float]] = {name: [] for name in READERS}
        codecs = {}
        for name in READERS:
            with reader(name):
                codecs[name] = AvroCodec(kind)
                codecs[name].decode(data[0])
        assert codecs["fastavro"].decode(data[-1]) == codecs["compiled"].decode(data[-1])
        each = [(m,) for m in data]
        for _ in range(args.rounds):
            for name in READERS:
                timings[name].append(per_item_us(codecs[name].decode, each))
        short = kind.rsplit(".", 1)[-1]
        for name in READERS:
            results[f"{short} decode, {name} (µs, median)"] = statistics.median(timings[name])
        results[f"{short} decode, fastavro / compiled"] = (
            statistics.median(timings["fastavro"]) / statistics.median(timings["compiled"]))

    steps = {}
    for name in READERS:
        with reader(name):
            steps[name] = EnrichStep(Topics(), load_policy(), 3)
            assert isinstance(steps[name].process(keys[0], kinds[AUDIT_EVENT][0], "audit.events", 0, 0), Enriched)
    step_timings: dict[str, list[float]] = {name: [] for name in READERS}
    inputs = [(k, m, "audit.events", 0, i) for i, (k, m) in enumerate(zip(keys, kinds[AUDIT_EVENT], strict=True))]
    for _ in range(args.rounds):
        for name in READERS:
            step_timings[name].append(per_item_us(steps[name].process, inputs))
    for name in READERS:
        results[f"enrich step, {name} (µs per event, median)"] = statistics.median(step_timings[name])
    results["enrich step, fastavro / compiled"] = (
        statistics.median(step_timings["fastavro"]) / statistics.median(step_timings["compiled"]))
    targets["enrich step, fastavro / compiled"] = "> 1"
    publish(f"The compiled Avro reader against fastavro ({args.events:,} messages, {args.rounds} rounds)",
            results, targets, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

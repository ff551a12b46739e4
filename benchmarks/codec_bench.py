"""The compiled Avro codec against the Python one (fastavro reading, avro_writer.py's closures writing), side by
side in one process, no broker.

    python benchmarks/codec_bench.py --events 20000 --rounds 5

1. The workers' three message kinds (the SDK's raw event, the enriched event, the chained event) decoded with
   `AvroCodec.decode` and encoded with `AvroCodec.encode`, each codec in turn, rounds alternating; µs per message.
2. The enriching sequencer's per-event step (`EnrichStep.process`: decode, validate, enrich, encode the message
   and its link body), each codec in turn, rounds alternating; µs per event.
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
from audit_layer_schemas.native_codec import NATIVE_VARIABLE, native_built

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.figures import publish
from benchmarks.pipeline_bench import encoded_events

CODECS = {"python": "off", "compiled": "on"}


@contextmanager
def codec(name: str) -> Iterator[None]:
    """Codecs made and first used inside are this one (a codec picks its writer when made, a reader at its first
    decode of a schema)."""
    before = os.environ.get(NATIVE_VARIABLE)
    os.environ[NATIVE_VARIABLE] = CODECS[name]
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(NATIVE_VARIABLE)
        else:
            os.environ[NATIVE_VARIABLE] = before


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
    parser.add_argument("--json", type=Path, default=Path("bench-results/codec.json"))
    args = parser.parse_args()
    if not native_built():
        parser.error("the compiled codec is not built: run `make install` (it needs cargo)")

    keys, kinds = messages(args.events)
    results: dict[str, float] = {}
    targets: dict[str, str] = {}
    for kind, data in kinds.items():
        codecs = {}
        for name in CODECS:
            with codec(name):
                codecs[name] = AvroCodec(kind)
                codecs[name].decode(data[0])
        records = [codecs["python"].decode(m) for m in data]
        assert [codecs["compiled"].decode(m) for m in data[:100]] == records[:100]
        for record in records[:100]:
            assert codecs["compiled"].encode(record) == codecs["python"].encode(record)
        short = kind.rsplit(".", 1)[-1]
        for work, arguments in (("decode", [(m,) for m in data]), ("encode", [(r,) for r in records])):
            timings: dict[str, list[float]] = {name: [] for name in CODECS}
            for _ in range(args.rounds):
                for name in CODECS:
                    timings[name].append(per_item_us(getattr(codecs[name], work), arguments))
            for name in CODECS:
                results[f"{short} {work}, {name} (µs, median)"] = statistics.median(timings[name])
            results[f"{short} {work}, python / compiled"] = (
                statistics.median(timings["python"]) / statistics.median(timings["compiled"]))

    steps = {}
    for name in CODECS:
        with codec(name):
            steps[name] = EnrichStep(Topics(), load_policy(), 3)
            assert isinstance(steps[name].process(keys[0], kinds[AUDIT_EVENT][0], "audit.events", 0, 0), Enriched)
    step_timings: dict[str, list[float]] = {name: [] for name in CODECS}
    inputs = [(k, m, "audit.events", 0, i) for i, (k, m) in enumerate(zip(keys, kinds[AUDIT_EVENT], strict=True))]
    for _ in range(args.rounds):
        for name in CODECS:
            step_timings[name].append(per_item_us(steps[name].process, inputs))
    for name in CODECS:
        results[f"enrich step, {name} (µs per event, median)"] = statistics.median(step_timings[name])
    results["enrich step, python / compiled"] = (
        statistics.median(step_timings["python"]) / statistics.median(step_timings["compiled"]))
    targets["enrich step, python / compiled"] = "> 1"
    publish(f"The compiled Avro codec against the Python one ({args.events:,} messages, {args.rounds} rounds)",
            results, targets, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

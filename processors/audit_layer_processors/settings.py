"""Worker settings shared by the processors and the sink, from arguments or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from audit_layer_schemas import Topics


def bootstrap_from_env() -> str:
    return (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        or os.environ.get("AUDIT_LAYER_BOOTSTRAP_SERVERS")
        or "127.0.0.1:9092"
    )


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap_servers: str
    topics: Topics
    group_id: str
    instance_id: str = "0"

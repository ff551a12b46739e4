"""Publishing to Kafka and answering once the broker acknowledged: confluent-kafka's producer,
with each request's delivery reports gathered into one asyncio future.

Delivery reports are served on the event loop itself (a poll task runs while any request waits),
not on a thread of their own: a second Python thread would contend with the loop for the GIL on
every report, which costs more than the polling.

acks=all and idempotence as in the SDK; a short linger, since an HTTP client waits for the ack.
A delivery that fails or takes longer than the timeout fails the request (503): the client
keeps its events and retries, rather than the service claiming what Kafka did not confirm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audit_layer_schemas.kafka_clients import producer_settings
from confluent_kafka import KafkaError, Message, Producer


@dataclass(frozen=True)
class AckPolicy:
    """How long a request waits for Kafka, and how the producer batches under load."""

    timeout_s: float = 10.0
    linger_ms: int = 2
    queue_max_messages: int = 200_000


POLL_INTERVAL_S = 0.0005


class KafkaUnavailable(RuntimeError):
    pass


class _Pending:
    """The delivery reports of one request, counted down on the producer's poll thread."""

    __slots__ = ("error", "future", "left")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        self.left = count
        self.error: str | None = None

    def report(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = err.str()
        self.left -= 1
        if self.left == 0:
            self._finish()

    def _finish(self) -> None:
        if self.future.done():
            return
        if self.error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(KafkaUnavailable(self.error))


class AckingProducer:
    def __init__(self, bootstrap_servers: str, policy: AckPolicy = AckPolicy()) -> None:
        self.policy = policy
        self._producer = Producer(producer_settings(bootstrap_servers, {
            "client.id": "audit-layer-api",
            "linger.ms": policy.linger_ms,
            "queue.buffering.max.messages": policy.queue_max_messages,
            "message.max.bytes": 4 * 1024 * 1024,
            "message.timeout.ms": int(policy.timeout_s * 1000),
            "log_level": 3,
        }))
        self._waiting = 0
        self._poller: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        """Serve delivery reports while a request waits for one."""
        while self._waiting:
            self._producer.poll(0)
            await asyncio.sleep(POLL_INTERVAL_S)
        self._poller = None

    async def send(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Produce every (key, value) and return when Kafka acknowledged all; KafkaUnavailable else."""
        pending = _Pending(asyncio.get_running_loop(), len(messages))
        self._waiting += 1
        try:
            if self._poller is None:
                self._poller = asyncio.create_task(self._poll())
            try:
                for key, value in messages:
                    self._producer.produce(topic, key=key, value=value, on_delivery=pending.report)
            except BufferError:
                raise KafkaUnavailable("the producer queue is full; Kafka is not keeping up") from None
            except Exception as exc:  # e.g. KafkaException for a message over the broker's size limit
                raise KafkaUnavailable(str(exc)) from None
            try:
                async with asyncio.timeout(self.policy.timeout_s + 1.0):
                    await pending.future
            except TimeoutError:
                raise KafkaUnavailable(f"Kafka did not acknowledge within {self.policy.timeout_s:.0f} s") from None
        finally:
            self._waiting -= 1

    def ready(self, timeout: float = 2.0, topics: tuple[str, ...] = ()) -> str | None:
        """None when a broker answers a metadata request and knows every topic of `topics`, else why not."""
        try:
            known = self._producer.list_topics(timeout=timeout).topics
        except Exception as exc:
            return str(exc)
        missing = [t for t in topics if t not in known or known[t].error is not None]
        if missing:
            return f"topic {', '.join(missing)} does not exist; create the topics with `audit-layer topics`"
        return None

    def close(self, timeout: float = 10.0) -> Any:
        return self._producer.flush(timeout)

"""What every drop-in wrapper shares: take the audit keyword arguments out of a call, record the
request, the response or the error, and pass streams through chunk by chunk while recording
them when they end, fail, or are abandoned (a stream never leaves no record).

A provider adapter says how its requests, responses and stream chunks map onto the event.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol

from audit_layer_schemas import Action

from audit_layer_sdk._log import log
from audit_layer_sdk.collector import AuditCollector

AUDIT_KWARGS = ("decision_type", "decision_outcome", "compliance_tags", "metadata", "confidence", "reasoning",
                "user_id", "session_id")


class StreamAccumulator(Protocol):
    def add(self, chunk: Any) -> None: ...

    def apply(self, collector: AuditCollector) -> None: ...


class ProviderAdapter(Protocol):
    provider: str

    def record_input(self, collector: AuditCollector, kwargs: dict[str, Any]) -> None: ...

    def record_output(self, collector: AuditCollector, response: Any) -> None: ...

    def accumulator(self) -> StreamAccumulator: ...


def snapshot(kwargs: dict[str, Any], name: str) -> Any:
    """A shallow copy of a list argument, so the conversation loop's `messages.append(...)` after the
    call does not change what was recorded; a one-shot iterable is materialised and the provider
    gets the same items."""
    value = kwargs.get(name)
    if value is None or isinstance(value, (str, bytes, dict)):
        return value
    if not isinstance(value, (list, tuple)):
        value = kwargs[name] = list(value)
    return list(value)


def split_audit_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    audit = {k: kwargs[k] for k in AUDIT_KWARGS if k in kwargs}
    return audit, {k: v for k, v in kwargs.items() if k not in AUDIT_KWARGS}


def start(make_collector: Callable[[dict[str, Any]], AuditCollector], adapter: ProviderAdapter,
          audit: dict[str, Any], kwargs: dict[str, Any]) -> AuditCollector:
    collector = make_collector(audit)
    try:
        adapter.record_input(collector, kwargs)
        collector.set_decision(audit.get("decision_type"), outcome=audit.get("decision_outcome"),
                               confidence=audit.get("confidence"), reasoning=audit.get("reasoning"),
                               compliance_tags=audit.get("compliance_tags"), metadata=audit.get("metadata"))
    except Exception as exc:
        log.warning(f"{adapter.provider}-input", "audit input not captured: %s", exc)
    return collector


# the provider libraries' own error classes (openai, anthropic): the call reached, or tried to reach, the provider
_PROVIDER_ERRORS = frozenset({"APIError", "APIConnectionError", "APITimeoutError", "APIStatusError"})


def error_source(exc: BaseException) -> str:
    """`provider_error` when the provider answered with, or could not be reached for, an error;
    `client_error` for one the library raised locally before any request (a wrong argument, say)."""
    if getattr(exc, "status_code", None) is not None or any(
            c.__name__ in _PROVIDER_ERRORS for c in type(exc).__mro__):
        return "provider_error"
    return "client_error"


def record_error(collector: AuditCollector, exc: BaseException) -> None:
    status = getattr(exc, "status_code", None)
    codes = [error_source(exc)] + ([f"http_status_{status}"] if status is not None else [])
    if isinstance(exc, (KeyboardInterrupt, GeneratorExit)) or type(exc).__name__ == "CancelledError":
        codes = ["cancelled"]
    collector.set_action(Action.FAIL_RETRY, codes, error_type=type(exc).__name__)
    collector.emit()


def record_response(collector: AuditCollector, adapter: ProviderAdapter, response: Any) -> bool:
    try:
        adapter.record_output(collector, response)
    except Exception as exc:
        log.warning(f"{adapter.provider}-output", "audit output not captured: %s", exc)
    return collector.emit()


class _StreamRecord:
    def __init__(self, collector: AuditCollector, accumulator: StreamAccumulator) -> None:
        self.collector = collector
        self.accumulator = accumulator
        self.started = time.perf_counter()
        self.first_chunk_ms: float | None = None
        self.done = False

    def chunk(self, chunk: Any) -> None:
        if self.first_chunk_ms is None:
            self.first_chunk_ms = (time.perf_counter() - self.started) * 1000.0
        try:
            self.accumulator.add(chunk)
        except Exception as exc:
            log.warning("stream-chunk", "audit stream chunk not captured: %s", exc)

    def finish(self, how: str, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.accumulator.apply(self.collector)
            if self.first_chunk_ms is not None:
                # OpenTelemetry's name and unit: seconds
                self.collector.add_metadata("gen_ai.response.time_to_first_chunk", round(self.first_chunk_ms / 1000, 6))
            cut = "stream_abandoned" if how == "abandoned" else None
            if how == "complete" and self.collector.fields.get("finish_reason") is None:
                cut = "stream_incomplete"  # the provider's stream ended without saying why: cut short
            if cut is not None:
                action = self.collector.fields.get("action", Action.ALLOW)
                self.collector.set_action(action, [*self.collector.fields.get("reason_codes", []), cut])
        except Exception as error:
            log.warning("stream-finish", "audit stream not captured: %s", error)
        if exc is not None:
            record_error(self.collector, exc)
        else:
            self.collector.emit()


class RecordedStream:
    """A provider stream, passed through unchanged, recorded at its end."""

    def __init__(self, inner: Any, collector: AuditCollector, accumulator: StreamAccumulator) -> None:
        self._inner = inner
        self._iterator: Iterator[Any] | None = None
        self._record = _StreamRecord(collector, accumulator)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __iter__(self) -> RecordedStream:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._inner)
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._record.finish("complete")
            raise
        except BaseException as exc:
            self._record.finish("failed", exc)
            raise
        self._record.chunk(chunk)
        return chunk

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._record.finish("abandoned")

    def __enter__(self) -> RecordedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        record = self.__dict__.get("_record")
        if record is not None and not record.done:
            record.finish("abandoned")


class RecordedAsyncStream:
    """An async provider stream, passed through unchanged, recorded at its end."""

    def __init__(self, inner: Any, collector: AuditCollector, accumulator: StreamAccumulator) -> None:
        self._inner = inner
        self._iterator: AsyncIterator[Any] | None = None
        self._record = _StreamRecord(collector, accumulator)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __aiter__(self) -> RecordedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._inner.__aiter__()
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            self._record.finish("complete")
            raise
        except BaseException as exc:
            self._record.finish("failed", exc)
            raise
        self._record.chunk(chunk)
        return chunk

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            self._record.finish("abandoned")

    async def __aenter__(self) -> RecordedAsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __del__(self) -> None:
        record = self.__dict__.get("_record")
        if record is not None and not record.done:
            record.finish("abandoned")


def _finish(collector: AuditCollector, adapter: ProviderAdapter, kwargs: dict[str, Any], response: Any,
            stream: type[RecordedStream] | type[RecordedAsyncStream]) -> Any:
    if kwargs.get("stream"):
        return stream(response, collector, adapter.accumulator())
    record_response(collector, adapter, response)
    return response


def recorded_call(call: Callable[..., Any], make_collector: Callable[[dict[str, Any]], AuditCollector],
                  adapter: ProviderAdapter, kwargs: dict[str, Any]) -> Any:
    """The one recorded-call path: split the audit arguments off, start, call, then record the error, the
    response, or the stream as it is read."""
    audit, kwargs = split_audit_kwargs(kwargs)
    collector = start(make_collector, adapter, audit, kwargs)
    try:
        response = call(**kwargs)
    except BaseException as exc:
        record_error(collector, exc)
        raise
    return _finish(collector, adapter, kwargs, response, RecordedStream)


async def recorded_call_async(call: Callable[..., Any], make_collector: Callable[[dict[str, Any]], AuditCollector],
                              adapter: ProviderAdapter, kwargs: dict[str, Any]) -> Any:
    """`recorded_call` for an async client."""
    audit, kwargs = split_audit_kwargs(kwargs)
    collector = start(make_collector, adapter, audit, kwargs)
    try:
        response = await call(**kwargs)
    except BaseException as exc:
        record_error(collector, exc)
        raise
    return _finish(collector, adapter, kwargs, response, RecordedAsyncStream)


class Owner(Protocol):
    def _collector(self, audit: dict[str, Any]) -> AuditCollector: ...


class RecordedEndpoint:
    """A provider namespace (`chat.completions`, `responses`, `messages`) whose `create` is recorded through
    its adapter; every other attribute passes through."""

    def __init__(self, inner: Any, owner: Owner, adapter: ProviderAdapter) -> None:
        self._inner = inner
        self._owner = owner
        self._adapter = adapter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, **kwargs: Any) -> Any:
        return recorded_call(self._inner.create, self._owner._collector, self._adapter, kwargs)


class RecordedAsyncEndpoint(RecordedEndpoint):
    async def create(self, **kwargs: Any) -> Any:  # type: ignore[override]
        return await recorded_call_async(self._inner.create, self._owner._collector, self._adapter, kwargs)

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AuditEvent, ChainedEvent, ChainHead, Checkpoint, EnrichedEvent
from audit_layer_schemas.registry import (
    AUDIT_EVENT,
    CHAIN_HEAD,
    CHAINED_EVENT,
    CHECKPOINT,
    ENRICHED_EVENT,
    default_registry,
)
from pydantic import ValidationError


@pytest.mark.parametrize(
    ("model", "name"),
    [(AuditEvent, AUDIT_EVENT), (EnrichedEvent, ENRICHED_EVENT), (ChainedEvent, CHAINED_EVENT),
     (ChainHead, CHAIN_HEAD), (Checkpoint, CHECKPOINT)],
)
def test_model_fields_are_the_schema_fields(model: type, name: str) -> None:
    schema = default_registry().current(name).parsed
    assert [f["name"] for f in schema["fields"]] == list(model.model_fields)


def test_event_validation_rejects_bad_values() -> None:
    with pytest.raises(ValidationError):
        make_event(input_tokens=-1)
    with pytest.raises(ValidationError):
        make_event(tenant="")
    with pytest.raises(ValidationError):
        make_event(event_id="not-a-uuid")
    with pytest.raises(ValidationError):
        make_event(confidence=1.5)


def test_uuid7_ids_are_version_7_and_increasing() -> None:
    from audit_layer_schemas.ids import uuid7

    ids = [uuid7() for _ in range(2000)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)

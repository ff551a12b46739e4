"""A property-based run of the API's own OpenAPI document (schemathesis): for generated requests,
valid and invalid, no 5xx, and every response matches what the document says (status codes,
content types, bodies, headers). Against the real broker and the embedded engine, with stored
records of the key's organisation so reads find something."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from audit_layer_schemas import Topics
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from tests.api_server import api_pipeline
from tests.conftest import wait_for_rows

pytestmark = pytest.mark.integration
EXAMPLES = 40  # per operation and mode; enough to reach every parameter, quick enough for every CI run


@pytest.fixture
def api_schema(kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Any) -> Iterator[Any]:
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=5) as server:
        token = server.key("org-s", name="schemathesis", rate_per_s=1e6)
        with server.client(token) as http:
            events = [{"action": "ALLOW", "decision_type": "triage", "user_id": f"u{i}", "prompt": f"case {i}"}
                      for i in range(20)]
            assert http.post("/v1/audit/log", json={"events": events}).status_code == 200
        assert wait_for_rows(store, 20, workers=server.workers, sink=server.sink) >= 20
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        schema.config.headers = {"Authorization": f"Bearer {token}"}
        # an invalid body over the size limit is refused as too large before it is read: 413 rejects it too
        rejection = schema.config.checks.negative_data_rejection
        rejection.expected_statuses = [*rejection.expected_statuses, "413"]
        server.token = token  # type: ignore[attr-defined]
        yield schema


def test_no_server_error_and_responses_match_the_document(api_schema: Any) -> None:
    # hypothesis drives each operation here rather than through schemathesis' pytest plugin, which
    # does not run under pytest 9
    tried: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                      derandomize=True, database=None)
            def run(case: Any) -> None:
                case.call_and_validate(excluded_checks=[
                    # a made-up id is a documented 404, a foreign cursor a documented 400
                    openapi_checks.positive_data_acceptance,
                ])

            try:
                run()
            except Unsatisfiable:
                # an operation without parameters or body has no invalid input to make
                assert mode is GenerationMode.NEGATIVE, operation.path
                continue
            tried.append(f"{mode.value} {operation.method.upper()} {operation.path}")
    assert len(tried) >= 13 + 9, tried  # every operation, and invalid input wherever there is any


def test_the_document_covers_every_route(api_schema: Any) -> None:
    operations = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert {("POST", "/v1/audit/log"), ("GET", "/v1/audit/logs"), ("GET", "/v1/audit/logs/{event_id}"),
            ("POST", "/v1/reports/generate"), ("GET", "/v1/chain/verify"), ("GET", "/healthz"),
            ("GET", "/readyz")} <= operations
    assert GenerationMode.NEGATIVE in list(GenerationMode)

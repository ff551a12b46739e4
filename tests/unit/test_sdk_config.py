"""The integration document's configuration: AuditConfig(api_key, org_id, api_url, ...), its environment
variables, the transport they choose, and the clients' own arguments."""

from __future__ import annotations

import pytest
from audit_layer_sdk import AuditAnthropic, AuditConfig, AuditConfigError, AuditOpenAI, HttpPublisher, MemoryPublisher
from audit_layer_sdk.http_publisher import ingest_url


def test_an_api_key_without_a_kafka_bootstrap_chooses_the_rest_api() -> None:
    config = AuditConfig.from_env({"AUDIT_LAYER_API_KEY": "al_sk_x", "AUDIT_LAYER_ORG_ID": "org_1",
                                   "AUDIT_LAYER_API_URL": "https://audit.example/v1"})
    assert (config.transport, config.tenant_id, config.org_id, config.api_url) == (
        "http", "org_1", "org_1", "https://audit.example/v1")
    assert AuditConfig.from_env({"AUDIT_LAYER_API_KEY": "k", "KAFKA_BOOTSTRAP_SERVERS": "h:9092"}).transport == "kafka"
    assert AuditConfig.from_env({}).transport == "kafka" and AuditConfig().kafka_bootstrap == "127.0.0.1:9092"
    explicit = AuditConfig(api_key="k", org_id="o", api_url="http://h/v1", async_logging=False, timeout_seconds=2,
                           retry_count=1)
    assert explicit.transport == "http" and explicit.tenant_id == "o"
    with pytest.raises(AuditConfigError, match="name one thing"):
        AuditConfig(org_id="a", tenant_id="b")
    with pytest.raises(AuditConfigError, match="api_url"):
        AuditConfig(api_url="audit.example/v1")


def test_the_ingest_url_follows_a_base_with_or_without_v1() -> None:
    assert ingest_url("https://api.example/v1") == "https://api.example/v1/audit/log"
    assert ingest_url("https://api.example/v1/") == "https://api.example/v1/audit/log"
    assert ingest_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1/audit/log"


def test_the_documents_constructor_positional_user_config_and_provider_key() -> None:
    config = AuditConfig(api_key="al_sk_x", org_id="org_1", api_url="http://127.0.0.1:1/v1", spool_dir=None)
    client = AuditOpenAI("user_1", None, config, "sk-openai")
    assert client._tenant_id == "org_1" and client._user_id == "user_1" and client._session_id  # made for the user
    assert client._client.api_key == "sk-openai" and isinstance(client._publisher, HttpPublisher)
    client._publisher.close(0.1)  # type: ignore[union-attr]
    shared = AuditOpenAI(tenant_id="acme", api_key="k", publisher=MemoryPublisher())  # type: ignore[arg-type]
    assert shared._session_id is None  # a client shared by many users is not one session
    anthropic_client = AuditAnthropic("user_2", anthropic_api_key="sk-ant", tenant_id="acme",
                                      store=MemoryPublisher())  # type: ignore[arg-type]
    assert anthropic_client._client.api_key == "sk-ant"


def test_a_keyword_neither_the_sdk_nor_the_provider_takes_is_refused_naming_both() -> None:
    with pytest.raises(TypeError) as refused:
        AuditOpenAI(tenant_id="acme", api_key="k", org_id="o")
    message = str(refused.value)
    assert "org_id" in message and "user_id" in message and "openai_api_key" in message and "base_url" in message
    with pytest.raises(TypeError, match="anthropic_api_key"):
        AuditAnthropic(tenant_id="acme", api_key="k", temperature=0.3)

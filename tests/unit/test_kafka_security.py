"""The one set of Kafka security settings: read from the environment or a client properties file, checked
when read, and librdkafka's connection errors turned into the setting to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_layer_schemas.kafka_clients import admin_settings, consumer_settings, producer_settings
from audit_layer_schemas.kafka_security import KafkaSecurity, KafkaSecurityError, explain_failure

SCRAM = {"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "AUDIT_LAYER_KAFKA_SASL_MECHANISM": "scram-sha-256",
         "AUDIT_LAYER_KAFKA_SASL_USERNAME": "auditor", "AUDIT_LAYER_KAFKA_SASL_PASSWORD": "pw"}


def test_nothing_set_is_plaintext() -> None:
    assert KafkaSecurity.from_env({}).librdkafka() == {}
    assert KafkaSecurity.from_env({"AUDIT_LAYER_TOPIC_PREFIX": "x."}).describe() == "PLAINTEXT"


def test_environment_names_are_librdkafkas_upper_cased() -> None:
    security = KafkaSecurity.from_env(SCRAM)
    assert security.librdkafka() == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256",
                                     "sasl.username": "auditor", "sasl.password": "pw"}
    assert security.describe() == "SASL_SSL, SCRAM-SHA-256 as auditor"
    assert "pw" not in security.describe()


def test_every_client_role_carries_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SCRAM.items():
        monkeypatch.setenv(name, value)
    for settings in (admin_settings("b:1"), consumer_settings("b:1", "g", "c"), producer_settings("b:1")):
        assert settings["security.protocol"] == "SASL_SSL" and settings["sasl.password"] == "pw"


def test_a_java_client_properties_file_is_read(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    props = tmp_path / "client.properties"
    props.write_text(f"""# as a Java client writes it
bootstrap.servers=ignored:9092
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" password="p=w";
ssl.ca.location = {ca}
""")
    security = KafkaSecurity.from_env({"AUDIT_LAYER_KAFKA_PROPERTIES_FILE": str(props),
                                       "AUDIT_LAYER_KAFKA_SASL_USERNAME": "override"})
    assert security.librdkafka() == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                                     "sasl.username": "override", "sasl.password": "p=w", "ssl.ca.location": str(ca)}


@pytest.mark.parametrize(("env", "message"), [
    ({"AUDIT_LAYER_KAFKA_SASL_PASSWROD": "x"}, "AUDIT_LAYER_KAFKA_SASL_PASSWROD is not a Kafka setting"),
    ({"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "TLS"}, "use one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ({"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "SASL_SSL needs AUDIT_LAYER_KAFKA_SASL_MECHANISM"),
    ({**SCRAM, "AUDIT_LAYER_KAFKA_SASL_PASSWORD": ""}, "needs AUDIT_LAYER_KAFKA_SASL_PASSWORD"),
    ({**SCRAM, "AUDIT_LAYER_KAFKA_SASL_MECHANISM": "GSSAPI"}, "use one of PLAIN, SCRAM-SHA-256"),
    ({"AUDIT_LAYER_KAFKA_SASL_MECHANISM": "PLAIN"}, "needs AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
    ({"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "SSL", "AUDIT_LAYER_KAFKA_SSL_CA_LOCATION": "/no/ca.pem"},
     "AUDIT_LAYER_KAFKA_SSL_CA_LOCATION=/no/ca.pem: no such file"),
    ({"AUDIT_LAYER_KAFKA_SSL_CA_LOCATION": "/x"}, "does not use TLS"),
    ({"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "AUDIT_LAYER_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
      "AUDIT_LAYER_KAFKA_SASL_OAUTHBEARER_METHOD": "oidc"}, "TOKEN_ENDPOINT_URL"),
    ({"AUDIT_LAYER_KAFKA_PROPERTIES_FILE": "/no/client.properties"}, "/no/client.properties"),
])
def test_a_mistake_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(KafkaSecurityError) as raised:
        KafkaSecurity.from_env(env)
    assert message in str(raised.value)


def test_a_java_keystore_in_the_file_says_what_to_give(tmp_path: Path) -> None:
    props = tmp_path / "client.properties"
    props.write_text("security.protocol=SSL\nssl.truststore.location=/etc/kafka/truststore.jks\n")
    with pytest.raises(KafkaSecurityError, match=r"give PEM files as ssl\.ca\.location"):
        KafkaSecurity.from_env({"AUDIT_LAYER_KAFKA_PROPERTIES_FILE": str(props)})


@pytest.mark.parametrize(("said", "cause"), [
    ("sasl_ssl://h:9094/bootstrap: SASL authentication error: Authentication failed during authentication due to "
     "invalid credentials with SASL mechanism SCRAM-SHA-256", "refused the credentials"),
    ("SSL handshake failed: error:0A000086:SSL routines::certificate verify failed", "certificate is not trusted"),
    ("h:9094/bootstrap: Disconnected: connection closed by peer: receive 0 after POLLIN (after 1ms in state "
     "APIVERSION_QUERY)", "speaks another protocol"),
    ("SSL handshake failed: error:0A00010B:SSL routines::wrong version number", "may not speak TLS"),
    ("Connect to ipv4#127.0.0.1:9094 failed: Connection refused", None),
    ("1/1 brokers are down", None),
])
def test_connection_errors_are_explained_by_the_setting_to_fix(said: str, cause: str | None) -> None:
    explained = explain_failure(said, KafkaSecurity.from_env(SCRAM))
    assert (explained is None) if cause is None else (explained is not None and cause in explained)

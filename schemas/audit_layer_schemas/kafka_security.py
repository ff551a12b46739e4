"""How every Kafka client of Audit Layer authenticates: TLS and SASL (PLAIN, SCRAM, OAUTHBEARER) from one
set of settings, `AUDIT_LAYER_KAFKA_*` environment variables or a client properties file.

The SDK, the workers, topic admin, the CLI and the API all read their security settings here, so a
deployment configures it once. Settings are checked when read: a typo or a missing password is an
error at start-up naming the variable, never a client that retries forever."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "AUDIT_LAYER_KAFKA_"
PROPERTIES_FILE_ENV = "AUDIT_LAYER_KAFKA_PROPERTIES_FILE"

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")

# librdkafka's names; the environment variable is AUDIT_LAYER_KAFKA_ + the name upper-cased, dots as _
PROPERTIES = (
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "sasl.oauthbearer.method",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.scope",
    "sasl.oauthbearer.extensions",
    "sasl.oauthbearer.config",
)
_FILES = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location")
_SECRETS = ("sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret")
_PROPERTY_LINE = re.compile(r"([^=:\s]+)\s*[=:]\s*(.*)$")
_JAAS_FIELD = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


class KafkaSecurityError(ValueError):
    """A security setting is wrong or missing; the message names the setting."""


def env_name(prop: str) -> str:
    return ENV_PREFIX + prop.upper().replace(".", "_")


@dataclass(frozen=True)
class KafkaSecurity:
    """Checked security properties, in librdkafka's names. Empty: plaintext, no authentication."""

    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return self.properties.get("security.protocol", "PLAINTEXT")

    @property
    def mechanism(self) -> str | None:
        return self.properties.get("sasl.mechanism")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def librdkafka(self) -> dict[str, str]:
        """Settings to merge into any confluent-kafka client's configuration."""
        return dict(self.properties)

    def describe(self) -> str:
        """What is configured, without a secret: for messages and logs."""
        parts = [self.protocol]
        if self.uses_sasl:
            who = self.properties.get("sasl.username") or self.properties.get("sasl.oauthbearer.client.id")
            parts.append(f"{self.mechanism}" + (f" as {who}" if who else ""))
        if self.uses_tls and "ssl.ca.location" in self.properties:
            parts.append(f"CA {self.properties['ssl.ca.location']}")
        return ", ".join(parts)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The file named by AUDIT_LAYER_KAFKA_PROPERTIES_FILE (if any), then AUDIT_LAYER_KAFKA_* variables,
        which win over the file."""
        env = os.environ if environ is None else environ
        known = {env_name(p): p for p in PROPERTIES}
        props: dict[str, str] = {}
        if env.get(PROPERTIES_FILE_ENV):
            props.update(read_properties_file(Path(env[PROPERTIES_FILE_ENV])))
        for name, value in env.items():
            if not name.startswith(ENV_PREFIX) or name == PROPERTIES_FILE_ENV:
                continue
            if name not in known:
                raise KafkaSecurityError(f"{name} is not a Kafka setting Audit Layer reads; known: "
                                         f"{', '.join(sorted(known))}, {PROPERTIES_FILE_ENV}")
            if value != "":
                props[known[name]] = value
        return cls.checked(props)

    @classmethod
    def checked(cls, props: Mapping[str, str]) -> KafkaSecurity:
        props = dict(props)
        for key in ("security.protocol", "sasl.mechanism"):
            if key in props:
                props[key] = props[key].upper()
        protocol = props.get("security.protocol", "PLAINTEXT")
        if protocol not in PROTOCOLS:
            raise KafkaSecurityError(f"{env_name('security.protocol')}={protocol!r}: use one of {', '.join(PROTOCOLS)}")
        sasl = protocol.startswith("SASL_")
        mechanism = props.get("sasl.mechanism")
        if sasl and mechanism is None:
            raise KafkaSecurityError(f"{protocol} needs {env_name('sasl.mechanism')}: one of {', '.join(MECHANISMS)}")
        if mechanism is not None and not sasl:
            raise KafkaSecurityError(f"{env_name('sasl.mechanism')}={mechanism} needs "
                                     f"{env_name('security.protocol')}=SASL_SSL (or SASL_PLAINTEXT)")
        if mechanism is not None and mechanism not in MECHANISMS:
            raise KafkaSecurityError(f"{env_name('sasl.mechanism')}={mechanism!r}: use one of {', '.join(MECHANISMS)}")
        if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            missing = [env_name(k) for k in ("sasl.username", "sasl.password") if not props.get(k)]
            if missing:
                raise KafkaSecurityError(f"SASL {mechanism} needs {' and '.join(missing)}")
        if mechanism == "OAUTHBEARER" and props.get("sasl.oauthbearer.method", "default").lower() == "oidc":
            missing = [env_name(k) for k in ("sasl.oauthbearer.token.endpoint.url", "sasl.oauthbearer.client.id",
                                             "sasl.oauthbearer.client.secret") if not props.get(k)]
            if missing:
                raise KafkaSecurityError(f"OAUTHBEARER with method oidc needs {', '.join(missing)}")
        tls_only = [k for k in props if k.startswith("ssl.")]
        if tls_only and protocol not in ("SSL", "SASL_SSL"):
            raise KafkaSecurityError(f"{env_name(tls_only[0])} is set but {env_name('security.protocol')}="
                                     f"{protocol} does not use TLS: use SSL or SASL_SSL")
        for key in _FILES:
            if key in props and not Path(props[key]).is_file():
                raise KafkaSecurityError(f"{env_name(key)}={props[key]}: no such file")
        return cls(props)


def read_properties_file(path: Path) -> dict[str, str]:
    """A Kafka client properties file (`key=value` lines, # comments). librdkafka's names are read as they
    are; a Java client's `sasl.jaas.config` gives the username and password. A Java keystore cannot be
    read by librdkafka, so truststore and keystore settings are refused with what to give instead."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KafkaSecurityError(f"{PROPERTIES_FILE_ENV}={path}: {exc.strerror or exc}") from None
    props: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        match = _PROPERTY_LINE.match(line)
        if match is None:
            raise KafkaSecurityError(f"{path}:{number}: expected key=value, got {line!r}")
        key, value = match.group(1), match.group(2).strip()
        if key in ("bootstrap.servers", "client.id", "sasl.login.callback.handler.class"):
            continue  # given elsewhere, or a Java class librdkafka has no use for
        if key == "sasl.jaas.config":
            fields = dict(_JAAS_FIELD.findall(value))
            if "username" in fields:
                props["sasl.username"] = fields["username"]
            if "password" in fields:
                props["sasl.password"] = fields["password"]
            continue
        if key.startswith(("ssl.truststore.", "ssl.keystore.")):
            raise KafkaSecurityError(f"{path}:{number}: {key} is a Java keystore setting; give PEM files as "
                                     "ssl.ca.location, ssl.certificate.location and ssl.key.location")
        if key not in PROPERTIES:
            raise KafkaSecurityError(f"{path}:{number}: {key} is not a Kafka setting Audit Layer reads; known: "
                                     f"{', '.join(PROPERTIES)}, sasl.jaas.config")
        props[key] = value
    return props


def explain_failure(message: str, security: KafkaSecurity) -> str | None:
    """The cause behind a librdkafka connection error or log line, in words that say which setting to fix;
    None when no setting explains it (a broker that is simply down)."""
    text = message.lower()
    said = f" ({message.strip()})"
    if "invalid credentials" in text or "sasl authentication error" in text:
        return (f"the broker refused the credentials ({security.describe()}): check {env_name('sasl.username')}, "
                f"{env_name('sasl.password')} and {env_name('sasl.mechanism')}{said}")
    if "certificate verify failed" in text:
        return (f"the broker's certificate is not trusted ({security.describe()}): set "
                f"{env_name('ssl.ca.location')} to the CA that issued it{said}")
    if "ssl handshake failed" in text:
        return (f"the TLS handshake failed ({security.describe()}): the listener may not speak TLS; check "
                f"{env_name('security.protocol')}{said}")
    mismatch = "security.protocol" in text or "broker might require sasl" in text or (
        ("disconnected" in text or "connection closed" in text)
        and ("apiversion_query" in text or "auth_handshake" in text or "auth_req" in text))
    if mismatch:
        return (f"the broker's listener speaks another protocol than {env_name('security.protocol')}="
                f"{security.protocol}{' with ' + security.mechanism if security.mechanism else ''}{said}")
    return None


def redacted(props: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k in _SECRETS else v) for k, v in props.items()}

"""A Kafka broker of the tests' own with a SASL_SSL listener: a CA and a server certificate made here, the
broker of scripts/kafka/kafka.sh started on ports of its own, and SCRAM users made through the admin API
of its plaintext listener (the operator's side; clients use the SASL_SSL one)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[1]
KEYSTORE_PASSWORD = "broker-keystore-secret"


@dataclass(frozen=True)
class SecureBroker:
    plaintext: str  # the operator's listener, for admin
    sasl_ssl: str
    ca_file: Path

    def client_env(self, user: str, password: str, mechanism: str = "SCRAM-SHA-256") -> dict[str, str]:
        """The AUDIT_LAYER_KAFKA_* settings every component reads."""
        return {"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "AUDIT_LAYER_KAFKA_SASL_MECHANISM": mechanism,
                "AUDIT_LAYER_KAFKA_SASL_USERNAME": user, "AUDIT_LAYER_KAFKA_SASL_PASSWORD": password,
                "AUDIT_LAYER_KAFKA_SSL_CA_LOCATION": str(self.ca_file)}

    def add_scram_user(self, user: str, password: str, mechanism: str = "SCRAM-SHA-256") -> None:
        from confluent_kafka.admin import (  # type: ignore[attr-defined]
            AdminClient,
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        admin = AdminClient({"bootstrap.servers": self.plaintext})
        kind = ScramMechanism.SCRAM_SHA_256 if mechanism == "SCRAM-SHA-256" else ScramMechanism.SCRAM_SHA_512
        upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(kind, 4096), password.encode())
        for future in admin.alter_user_scram_credentials([upsert]).values():
            future.result(30)


def make_certificates(folder: Path) -> tuple[Path, Path]:
    """A CA, and a certificate it issued for 127.0.0.1 and localhost; returns (ca.pem, broker.p12)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audit-layer test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    keystore = folder / "broker.p12"
    keystore.write_bytes(pkcs12.serialize_key_and_certificates(
        b"broker", key, cert, [ca], serialization.BestAvailableEncryption(KEYSTORE_PASSWORD.encode())))
    return ca_file, keystore


@contextmanager
def secure_broker(folder: Path, plain_users: str = "") -> Iterator[SecureBroker]:
    base = int(os.environ.get("KAFKA_PORT", "9092")) + 200  # beside the session's broker, never on it
    ca_file, keystore = make_certificates(folder)
    home = Path(os.environ.get("KAFKA_HOME_DIR", REPO / ".kafka"))
    shutil.rmtree(home / f"data-{base}", ignore_errors=True)  # fresh users and topics every run
    env = {**os.environ, "KAFKA_PORT": str(base), "KAFKA_SASL_SSL_PORT": str(base + 2),
           "KAFKA_SSL_KEYSTORE": str(keystore), "KAFKA_SSL_KEYSTORE_PASSWORD": KEYSTORE_PASSWORD,
           "KAFKA_SASL_PLAIN_USERS": plain_users, "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m"}
    script = str(REPO / "scripts/kafka/kafka.sh")
    subprocess.run(["bash", script, "start"], check=True, env=env)
    try:
        yield SecureBroker(f"127.0.0.1:{base}", f"127.0.0.1:{base + 2}", ca_file)
    finally:
        subprocess.run(["bash", script, "stop"], env=env, check=False)

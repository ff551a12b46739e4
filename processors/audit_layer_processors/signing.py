"""Ed25519 checkpoint keys: loaded from a file or the environment; a key id derived from the public key.

Rotation: a new key signs new checkpoints under a new key id; verifiers keep the old public
keys, so older checkpoints still verify.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from audit_layer_schemas.checkpoint import CheckpointStatement, key_id
from audit_layer_schemas.signed_note import ALG_ED25519, key_hash, signature_line
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger("audit_layer.signing")
ENV_KEY = "AUDIT_LAYER_SIGNING_KEY"  # base64 of the 32-byte Ed25519 seed
# the signed-note key name, and the prefix of every per-tenant log origin (<name>/<tenant_id>)
DEFAULT_NOTE_NAME = "audit-layer.local"
DEFAULT_KEY_FILE = Path("data/keys/checkpoint-ed25519.pem")


class SigningKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class CheckpointSigner:
    private_key: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def sign(self, statement: CheckpointStatement) -> bytes:
        return self.private_key.sign(statement.encode())

    def sign_note(self, name: str, body: str) -> str:
        """A c2sp.org/signed-note of `body` with this key under `name` (Ed25519, algorithm 0x01)."""
        hash4 = key_hash(name, ALG_ED25519, self.public_raw)
        return body + "\n" + signature_line(name, hash4, self.private_key.sign(body.encode()))


def generate_key_file(path: Path) -> CheckpointSigner:
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    signer = CheckpointSigner(key)
    public = path.with_suffix(".pub")
    public.write_text(base64.b64encode(signer.public_raw).decode() + "\n")
    return signer


def load_signer(path: Path | None = None, *, create: bool = False) -> CheckpointSigner:
    """The key from `path`, else $AUDIT_LAYER_SIGNING_KEY, else the default file (made when `create`)."""
    if path is None and os.environ.get(ENV_KEY):
        try:
            seed = base64.b64decode(os.environ[ENV_KEY], validate=True)
            return CheckpointSigner(Ed25519PrivateKey.from_private_bytes(seed))
        except ValueError as exc:
            raise SigningKeyError(f"{ENV_KEY} must be the base64 of a 32-byte Ed25519 seed: {exc}") from None
    target = path or DEFAULT_KEY_FILE
    if not target.exists():
        if create and path is None:
            log.warning("no signing key given: generated %s (development only; give --signing-key or %s)",
                        target, ENV_KEY)
            return generate_key_file(target)
        raise SigningKeyError(f"signing key {target} not found; create one with `audit-layer keys generate`")
    try:
        key = serialization.load_pem_private_key(target.read_bytes(), password=None)
    except ValueError as exc:
        raise SigningKeyError(f"{target} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{target} is not an Ed25519 key")
    return CheckpointSigner(key)

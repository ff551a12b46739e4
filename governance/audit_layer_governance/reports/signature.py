"""Reports signed by the operator's report key: a PAdES signature (pyHanko) over the whole PDF.

The key is Ed25519, like the checkpoint key but a different one: whoever renders reports (the API,
the CLI) need not hold the key that signs the log. Its public half is published beside the
checkpoint keys' (`data/report-keys/*.pub`), and `audit-layer report verify FILE` checks a PDF
against it: the signature must be intact, cover the whole file, and be made by a published key.
The certificate in the signature is self-issued for that key; trust comes from the published key,
not from a certificate authority.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

KEY_ENV = "AUDIT_LAYER_REPORT_KEY"  # base64 of a 32-byte Ed25519 seed
DEFAULT_KEY_FILE = Path("data/report-keys/report-ed25519.pem")
FIELD = "AuditLayerReport"


class SignatureInvalid(ValueError):
    pass


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).digest()[:8].hex()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_report_key(path: Path | None = None, *, create: bool = True) -> Ed25519PrivateKey:
    """The key from `path`, else $AUDIT_LAYER_REPORT_KEY, else the default file (made on first use when
    `create`, with its public half beside it)."""
    if path is None and os.environ.get(KEY_ENV):
        try:
            return Ed25519PrivateKey.from_private_bytes(base64.b64decode(os.environ[KEY_ENV], validate=True))
        except ValueError as exc:
            raise SignatureInvalid(f"{KEY_ENV} must be the base64 of a 32-byte Ed25519 seed: {exc}") from None
    target = path or DEFAULT_KEY_FILE
    if not target.exists():
        if not create:
            raise FileNotFoundError(f"report key {target} not found")
        key = Ed25519PrivateKey.generate()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        target.with_suffix(".pub").write_text(base64.b64encode(_raw(key.public_key())).decode() + "\n")
        return key
    loaded = serialization.load_pem_private_key(target.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SignatureInvalid(f"{target} is not an Ed25519 key")
    return loaded


def published_keys(path: Path = DEFAULT_KEY_FILE.parent) -> dict[str, bytes]:
    """key id -> raw public key, from a .pub file (base64) or a folder of them."""
    files = sorted(path.glob("*.pub")) if path.is_dir() else [path] if path.exists() else []
    keys = {}
    for file in files:
        raw = base64.b64decode(file.read_text().strip())
        keys[key_id(raw)] = raw
    return keys


def _certificate(key: Ed25519PrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Audit Layer"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"report key {key_id(_raw(key.public_key()))}")])
    # a fixed validity window: the certificate only carries the key; the published key is the trust
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(int.from_bytes(hashlib.sha256(_raw(key.public_key())).digest()[:8], "big"))
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365 * 80))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, None))


def sign_pdf(pdf: bytes, key: Ed25519PrivateKey, *, reason: str = "Audit Layer report") -> bytes:
    """The PDF with a PAdES baseline signature added as an incremental update (PDF/A keeps)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    cert = asn1_x509.Certificate.load(_certificate(key).public_bytes(serialization.Encoding.DER))
    private = asn1_keys.PrivateKeyInfo.load(key.private_bytes(serialization.Encoding.DER,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=private,
                                  cert_registry=SimpleCertificateStore.from_certs([cert]))  # type: ignore[no-untyped-call]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    meta = signers.PdfSignatureMetadata(field_name=FIELD, reason=reason, md_algorithm="sha512",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    out = signers.sign_pdf(writer, meta, signer=signer)
    return bytes(out.getvalue())


@dataclass(frozen=True)
class SignatureCheck:
    key_id: str
    signed_at: str
    covers_whole_file: bool


def verify_pdf(pdf: bytes, trusted: dict[str, bytes]) -> SignatureCheck:
    """Checks the report's signature; raises SignatureInvalid saying what is wrong."""
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid(f"not a readable PDF: {exc}") from None
    if not signatures:
        raise SignatureInvalid("the PDF carries no signature")
    if len(signatures) > 1:
        raise SignatureInvalid(f"the PDF carries {len(signatures)} signatures; a report has one")
    embedded = signatures[0]
    cert = embedded.signer_cert
    raw = cert.public_key.native.get("public_key") if cert.public_key.algorithm == "ed25519" else None
    if not isinstance(raw, bytes) or key_id(raw) not in trusted or trusted[key_id(raw)] != raw:
        raise SignatureInvalid("the signature is not by a published report key"
                               + ("" if isinstance(raw, bytes) else " (not an Ed25519 key)")
                               + (f" (key {key_id(raw)})" if isinstance(raw, bytes) else ""))
    try:
        status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[cert]))
    except Exception as exc:  # pyHanko raises several kinds for a damaged signature
        raise SignatureInvalid(f"the signature cannot be checked: {exc}") from None
    if not status.intact:
        raise SignatureInvalid("the document was changed after it was signed (its digest differs)")
    if not status.valid:
        raise SignatureInvalid("the signature does not verify with the signer's key")
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    if not whole:
        raise SignatureInvalid("bytes were added to the PDF after it was signed")
    signed_at = status.signer_reported_dt.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") \
        if status.signer_reported_dt else "unknown"
    return SignatureCheck(key_id(raw), signed_at, whole)

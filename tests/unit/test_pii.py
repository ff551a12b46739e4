import pytest
from audit_layer_schemas.pii import detect, iban_ok, luhn_ok, mask


@pytest.mark.parametrize(("text", "kind"), [
    ("write to jane.doe@example.co.uk today", "email"),
    ("call +1 415-555-0132 now", "phone"),
    ("call (415) 555-0132 now", "phone"),
    ("SSN 123-45-6789", "us_ssn"),
    ("card 4111 1111 1111 1111 exp", "payment_card"),
    ("card 5500-0000-0000-0004", "payment_card"),
    ("IBAN DE89 3704 0044 0532 0130 00", "iban"),
    ("IBAN GB82WEST12345698765432", "iban"),
    ("from 192.168.10.254 at noon", "ip_address"),
    ("from 2001:db8:85a3::8a2e:370:7334", "ip_address"),
])
def test_each_kind_is_found(text: str, kind: str) -> None:
    assert [f.kind for f in detect(text)] == [kind]


@pytest.mark.parametrize("text", [
    "order 4111 1111 1111 1112 shipped",  # fails Luhn
    "IBAN DE89 3704 0044 0532 0130 01",  # fails mod-97
    "version 999.300.1.1 released",  # not an IP address
    "SSN 000-12-3456 is invalid",
    "the loan is 50000 dollars at 4.5%",
])
def test_lookalikes_are_not_found(text: str) -> None:
    assert detect(text) == []


def test_mask_replaces_spans() -> None:
    text = "mail a@b.io or call 415-555-0132"
    assert mask(text, detect(text)) == "mail [EMAIL] or call [PHONE]"


def test_checks() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")

import pytest
from audit_layer_schemas.pii import detect, iban_ok, luhn_ok, mask
from hypothesis import given, settings
from hypothesis import strategies as st


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


# the plain regex the e-mail finder must agree with (it is quadratic on long runs without an '@')
_PLAIN_EMAIL = __import__("re").compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab.Z9-_+%@ x\u00e9"), max_size=60))
def test_the_email_finder_finds_what_the_plain_regex_finds(text: str) -> None:
    assert [(f.start, f.end) for f in detect(text, ("email",))] == [m.span() for m in _PLAIN_EMAIL.finditer(text)]


@pytest.mark.timeout(30)  # linear: well under a second each; the quadratic versions took minutes
@pytest.mark.parametrize("text", ["a" * 512 * 1024, "a.b" * 170_000, "a@b.co " * 70_000, "1 " * 250_000,
                                  "x@" * 250_000, "ab:" * 170_000])
def test_a_maximal_prompt_is_scanned_in_linear_time(text: str) -> None:
    found = detect(text)
    assert all(0 <= f.start < f.end <= len(text) for f in found)


# the plain forms of the other detectors' patterns: pii.py writes them to start with a character the regex
# engine can skip to, and tests a cheap necessary condition first; neither may change what is found
_PLAIN = {
    "us_ssn": r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)",
    "payment_card": r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
    "ip_address": r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])|"
                  r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])",
    "phone": r"(?<![\w+])(?:\+1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)|"
             r"(?<![\w+])\+\d{1,3}(?:[ .-]\d{2,5}){2,4}(?!\d)",
}
_CHECKS = {kind: check for kind, _, check in __import__("audit_layer_schemas.pii").pii._DETECTORS}
# digits (one not ASCII: \d is Unicode), the separators the patterns use, capitals, hex, word characters
_PII_ALPHABET = st.sampled_from("0123456789" * 3 + "\u0663 -.:+()\nABGZWaefx_\u00e9")


# real findings and near misses, run into each other and into random characters
_PII_PIECES = st.sampled_from([
    "123-45-6789", "000-12-3456", "4111 1111 1111 1111", "5500-0000-0000-0004", "4111111111111111", "192.168.1.1",
    "999.300.1.1", "2001:db8::1", "fe80::1:2", "+1 415-555-0132", "(415) 555-0132", "415.555.0132", "+44 20 7946 0958",
    "GB82WEST12345698765432", "DE89 3704 0044 0532 0130 00", "666-12-3456", "912-34-5678", "1234.5.6.7",
    "::ffff:10.0.0.1", "x", " ", "-", ".", ":", "+", "1", "12", "A", "\n",
])
_PII_TEXTS = st.one_of(st.text(alphabet=_PII_ALPHABET, max_size=50),
                       st.lists(st.one_of(_PII_PIECES, st.text(alphabet=_PII_ALPHABET, max_size=3)), max_size=8)
                       .map("".join))


@settings(max_examples=3000, derandomize=True, deadline=None)
@given(st.sampled_from(sorted(_PLAIN)), _PII_TEXTS)
def test_each_detector_finds_what_its_plain_pattern_finds(kind: str, text: str) -> None:
    check = _CHECKS[kind]
    expected = [m.span() for m in __import__("re").finditer(_PLAIN[kind], text)
                if check is None or check(text[m.start():m.end()])]
    assert [(f.start, f.end) for f in detect(text, (kind,))] == expected

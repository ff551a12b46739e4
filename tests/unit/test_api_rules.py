"""The REST API's pure rules: key format and hashing, scopes, search SQL and cursors, rate limits."""

from __future__ import annotations

import pytest
from audit_layer_api.api_keys import ApiKey, KeyFormatError, Scope, new_key, parse_scopes, secret_hash, split_token
from audit_layer_api.rate_limit import RateLimiter
from audit_layer_api.search import (
    FilterError,
    Filters,
    decode_cursor,
    encode_cursor,
    parse_instant,
    search_sql,
    unique_by_seq,
)


def test_a_new_key_round_trips_and_only_its_hash_is_kept() -> None:
    made = new_key()
    key_id, secret = split_token(made.token)
    assert key_id == made.key_id and made.secret_sha256 == secret_hash(secret)
    assert secret not in made.secret_sha256.hex()
    stored = ApiKey(key_id, "acme", "", frozenset({Scope.READ}), made.secret_sha256, 10.0)
    assert stored.accepts(secret) and not stored.accepts(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not ApiKey(**{**vars(stored), "revoked": True}).accepts(secret)
    for bad in ("", "al_sk_", "Bearer " + made.token, made.token + "x", made.token.replace("al_sk_", "sk_")):
        with pytest.raises(KeyFormatError):
            split_token(bad)


def test_scopes_are_named() -> None:
    assert parse_scopes("ingest, read") == {Scope.INGEST, Scope.READ}
    with pytest.raises(KeyFormatError, match="unknown scope root"):
        parse_scopes("read,root")
    with pytest.raises(KeyFormatError):
        parse_scopes(" , ")


def test_every_search_is_scoped_to_the_key_organisation_first() -> None:
    filters = Filters(user_id="bob' OR 1=1 --", compliance_tag="FCRA", start_date="2026-11-01", end_date="2026-11-30")
    sql, params = search_sql("audit", "org-a", filters, 100, None)
    where = sql.split(" WHERE ", 1)[1]
    assert where.startswith("tenant_id = {tenant:String} AND ")
    assert params["tenant"] == "org-a" and "bob'" not in sql and params["user_id"] == "bob' OR 1=1 --"
    assert params["limit"] == 101  # one more than asked: is there a next page
    # an end date includes its whole day
    assert params["end"] - params["start"] == 30 * 86_400 * 1_000_000
    with pytest.raises(FilterError):
        search_sql("audit", "org-a", Filters(), 1001, None)
    with pytest.raises(FilterError, match="before"):
        search_sql("audit", "org-a", Filters(start_date="2026-02-01", end_date="2026-01-01"), 10, None)


def test_cursors_belong_to_their_filters() -> None:
    filters = Filters(decision_type="triage")
    cursor = encode_cursor(4242, filters)
    assert decode_cursor(cursor, filters) == 4242
    with pytest.raises(FilterError, match="other filters"):
        decode_cursor(cursor, Filters(decision_type="hiring"))
    for junk in ("!!!", "e30", cursor[:-3]):
        with pytest.raises(FilterError):
            decode_cursor(junk, filters)


def test_instants() -> None:
    assert parse_instant("2026-11-23T10:00:00+02:00", end=False).hour == 8
    for bad in ("yesterday", "0001-01-01", "9999-12-31T23:59:59+14:00", "2026-13-01"):
        with pytest.raises(FilterError):
            parse_instant(bad, end=True)


def test_token_bucket_bursts_then_holds_to_the_rate() -> None:
    limiter = RateLimiter(burst_seconds=2.0)
    taken = [limiter.take("k", 5.0, now=100.0).allowed for _ in range(12)]
    assert taken == [True] * 10 + [False] * 2
    refused = limiter.take("k", 5.0, now=100.0)
    assert not refused.allowed and refused.retry_after_s == 1
    assert limiter.take("k", 5.0, now=100.2).allowed  # one token back after 1/5 s
    assert limiter.blocked("other", 5.0, now=0.0).allowed and limiter.take("other", 5.0, now=0.0).allowed


def test_a_duplicate_row_not_yet_merged_is_shown_once() -> None:
    rows = [{"seq": 9, "v": "a"}, {"seq": 8, "v": "b"}, {"seq": 8, "v": "b"}, {"seq": 7, "v": "c"}]
    assert [r["seq"] for r in unique_by_seq(rows)] == [9, 8, 7]

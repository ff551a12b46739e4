"""Audit Layer's REST service: ingest, search, records, reports and chain verification over HTTP,
for many organisations that never see each other's records."""

-- Retention counts from when the pipeline received the record (ingested_at, inside the chain's hash), never
-- from the client's own timestamp: a client whose clock says 1970 must not send records that expire on arrival.
ALTER TABLE {db}.events MODIFY TTL if(legal_hold = 1, toDateTime('2106-01-01 00:00:00', 'UTC'), toDateTime(ingested_at) + toIntervalDay(retention_days));

-- A sink's load is one insert of up to 20,000 rows (~14 MB before compression). Above 10 MB (ClickHouse's
-- default) each insert wrote a Wide part, two files per column for ~50 columns; a Compact part is one file, and
-- the insert costs about a quarter less (BENCHMARKS.md, issue 20's ninth stop). Merged parts above this size
-- are Wide, as before, so reads of large parts are unchanged.
ALTER TABLE {db}.events MODIFY SETTING min_bytes_for_wide_part = 33554432;

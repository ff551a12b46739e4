from pathlib import Path

from audit_layer_sdk.spool import SEGMENT_RECORDS, DiskSpool, SpoolLimits, read_segment


def _records(n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    return [(b"tenant", f"event-{i}".encode() * 3) for i in range(start, start + n)]


def test_records_come_back_in_order_across_segments_and_restarts(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    assert spool.append_many(_records(SEGMENT_RECORDS + 10)) == SEGMENT_RECORDS + 10
    reopened = DiskSpool(tmp_path)  # the application restarted
    assert len(reopened) == SEGMENT_RECORDS + 10
    seen = []
    while (segment := reopened.oldest()) is not None:
        path, records = segment
        seen.extend(records)
        reopened.remove(path, len(records))
    assert seen == _records(SEGMENT_RECORDS + 10) and len(reopened) == 0 and reopened.bytes == 0


def test_a_sealed_segment_is_not_appended_to_while_it_is_replayed(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.append_many(_records(5))
    path, records = spool.oldest()  # type: ignore[misc]
    spool.append_many(_records(3, start=5))
    spool.remove(path, len(records))
    path2, later = spool.oldest()  # type: ignore[misc]
    assert path2 != path and later == _records(3, start=5)


def test_torn_tail_is_ignored(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.append_many(_records(4))
    segment = next(tmp_path.glob("segment-*.log"))
    with segment.open("ab") as handle:
        handle.write(b"\x00\x00\x00\x06\x00\x00\x01\x00tenant-partial")  # a crash mid-write
    assert read_segment(segment) == _records(4)
    data = bytearray(segment.read_bytes())
    data[20] ^= 0xFF  # corruption inside the first record: nothing after it is trusted
    segment.write_bytes(bytes(data))
    assert read_segment(segment) == []


def test_limits_refuse_what_does_not_fit(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, SpoolLimits(max_records=10))
    assert spool.append_many(_records(15)) == 10
    assert len(spool) == 10
    spool = DiskSpool(tmp_path / "bytes", SpoolLimits(max_bytes=200))
    accepted = spool.append_many(_records(50))
    assert 0 < accepted < 50 and spool.bytes <= 200


def test_a_spool_belongs_to_its_destination_and_each_process_writes_its_own_folder(tmp_path: Path) -> None:
    import json
    import os

    from audit_layer_sdk.spool_owner import SpoolOwnership, destination_folder

    a = destination_folder(tmp_path, "kafka", "cluster-a:9092", "audit.events")
    assert a != destination_folder(tmp_path, "kafka", "cluster-b:9092", "audit.events")
    assert a != destination_folder(tmp_path, "kafka", "cluster-a:9092", "other.audit.events")
    assert json.loads((a / "destination.json").read_text())["address"] == "cluster-a:9092"
    first, second = SpoolOwnership(a), SpoolOwnership(a)
    assert first.folder != second.folder and first.folder.name.startswith(f"owner-{os.getpid()}-")
    DiskSpool(first.folder).append_many([(b"k", b"v")])
    # a live owner's folder is never adopted; once its process let go, the next one adopts it
    assert second.adopt_orphans() == []
    first.forget_after_fork()  # as the process that held it ending does
    assert second.adopt_orphans() == [first.folder]
    assert len(DiskSpool(first.folder)) == 1
    second.release(first.folder, remove=True)
    assert not first.folder.exists()


def test_a_folder_being_made_is_never_taken_for_an_orphan(tmp_path: Path) -> None:
    # a sibling process starting at the same moment scans for orphans while this one makes its folder: it once
    # locked the new folder first, and the forked child's publisher failed to restart (a CI failure, stop 30)
    import threading

    from audit_layer_sdk.spool_owner import SpoolOwnership

    destination = tmp_path / "destination"
    destination.mkdir()
    sibling = SpoolOwnership(destination)
    stop, adopted = threading.Event(), []

    def scan() -> None:
        while not stop.is_set():
            adopted.extend(sibling.adopt_orphans())

    scanner = threading.Thread(target=scan)
    scanner.start()
    try:
        made = [SpoolOwnership(destination) for _ in range(400)]
    finally:
        stop.set()
        scanner.join()
    assert adopted == []
    assert sorted(destination.glob("owner-*")) == sorted([sibling.folder, *(m.folder for m in made)])
    assert not list(destination.glob(".making-*"))

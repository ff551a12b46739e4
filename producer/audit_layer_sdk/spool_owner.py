"""Whose spool is whose: a spool belongs to one destination, and each process writes only its own folder.

    <spool_dir>/<kind>-<digest of address and topic>/destination.json   what the folder is for
    <spool_dir>/<kind>-<digest>/owner-<pid>-<random>/segment-*.log       one process's events, in order

A process picks the destination folder of the cluster (or API URL) and topic it publishes to, so a spool
written for one cluster is never replayed into another. Inside, it makes a folder of its own and holds an
exclusive `flock` on it for its whole life: two processes (a forked child, gunicorn workers, a restart
while the old process still drains) never append to one segment. A folder whose lock nobody holds was left
by a process that ended; the next process of that destination adopts it, replays it and removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from audit_layer_sdk._log import logger
from audit_layer_sdk.spool import DiskSpool, SpoolLimits

LOCK_FILE = "owner.lock"


def destination_folder(root: Path, kind: str, address: str, topic: str) -> Path:
    """The folder of one destination, made on first use, with what it is for written beside the spools."""
    digest = hashlib.sha256(f"{kind}\0{address}\0{topic}".encode()).hexdigest()[:16]
    folder = root / f"{kind}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    described = folder / "destination.json"
    if not described.exists():
        described.write_text(json.dumps({"kind": kind, "address": address, "topic": topic}) + "\n")
    return folder


def _try_lock(folder: Path) -> int | None:
    """An fd holding the folder's exclusive lock, or None when a live process holds it."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class SpoolOwnership:
    """This process's own spool folder under a destination, and the abandoned ones it adopted."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        name = f"owner-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # made and locked under a name `adopt_orphans` does not look at, then renamed: a process starting at the
        # same moment (a sibling after a fork, another gunicorn worker) would otherwise see the new folder
        # unlocked, take it for an orphan and lock it first
        making = destination / f".making-{name}"
        making.mkdir(parents=True)
        fd = _try_lock(making)
        if fd is None:
            raise OSError(f"cannot lock the new spool folder {making}")
        self.folder = destination / name
        making.rename(self.folder)  # the lock is on the lock file, which the rename keeps
        self._fds = {self.folder: fd}
        self.orphans: dict[Path, DiskSpool] = {}

    def adopt_orphans(self) -> list[Path]:
        """Folders of this destination no live process holds (their process ended): locked for this one."""
        adopted = []
        for folder in sorted(self.destination.glob("owner-*")):
            if folder in self._fds or not folder.is_dir():
                continue
            fd = _try_lock(folder)
            if fd is not None:
                self._fds[folder] = fd
                adopted.append(folder)
        return adopted

    def adopt_spools(self, limits: SpoolLimits) -> None:
        """The orphans adopted now, opened as spools (`orphans`) until replayed whole."""
        for folder in self.adopt_orphans():
            self.orphans[folder] = DiskSpool(folder, limits)
            if len(self.orphans[folder]):
                logger.info("audit spool %s (left by a process that ended) holds %d events; replaying", folder,
                            len(self.orphans[folder]))

    def orphan_records(self) -> int:
        return sum(len(spool) for spool in self.orphans.values())

    def done_with(self, folder: Path) -> None:
        """Let an adopted spool go: removed when replayed whole, else left for another process."""
        spool = self.orphans.pop(folder, None)
        self.release(folder, remove=spool is None or not len(spool))

    def release(self, folder: Path, remove: bool) -> None:
        """Let an adopted folder go (removed when it was replayed whole)."""
        fd = self._fds.pop(folder, None)
        if remove:
            shutil.rmtree(folder, ignore_errors=True)
        if fd is not None:
            os.close(fd)

    def let_go(self, own_empty: bool) -> None:
        """At close: every folder released; removed when empty, else left for the next process of this
        destination."""
        for folder in list(self.orphans):
            self.done_with(folder)
        self.release(self.folder, remove=own_empty)

    def forget_after_fork(self) -> None:
        """In a forked child: close the parent's lock fds (the parent keeps its locks) without touching them."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}
        self.orphans = {}

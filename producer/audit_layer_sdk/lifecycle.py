"""A publisher's life in a process: closed (bounded) at exit, and started afresh in a forked child.

A publisher made before `os.fork()` (gunicorn --preload, multiprocessing with fork, Celery prefork) must
not be used by the child as it is: its client's threads did not survive the fork, and its locks, queues and
spool folder are the parent's. Every registered publisher restarts itself in the child
(`_after_fork_in_child`): what the parent queued, the parent delivers, once.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import Any, Protocol

from audit_layer_sdk._log import log

EXIT_FLUSH_SECONDS = 5.0


class Restartable(Protocol):
    _pid: int
    # held while an event is built: a fork waits for the build in progress (a lock inside a library, such as
    # pydantic-core's regex cache, held by the building thread at fork would stay locked in the child)
    _build_lock: threading.RLock

    def close(self, timeout: float = ...) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_live: weakref.WeakSet[Any] = weakref.WeakSet()
# clients a fork left without their threads: destroying one would wait for them, so they are kept
abandoned_at_fork: list[Any] = []


def register(publisher: Restartable) -> None:
    _live.add(publisher)
    atexit.register(_close_at_exit, weakref.ref(publisher))


def _close_at_exit(ref: weakref.ref[Restartable]) -> None:
    publisher = ref()
    if publisher is not None and publisher._pid == os.getpid():
        publisher.close(EXIT_FLUSH_SECONDS)


_held: list[Any] = []


def _hold_builds() -> None:
    for publisher in list(_live):
        if publisher._build_lock.acquire(timeout=2.0):  # a build takes well under a millisecond
            _held.append(publisher)


def _release_builds() -> None:
    while _held:
        _held.pop()._build_lock.release()


def _restart_in_child() -> None:
    _held.clear()  # the child makes new locks
    for publisher in list(_live):
        try:
            publisher._after_fork_in_child()
            _close_when_a_multiprocessing_child_ends(publisher)
        except Exception as exc:  # the SDK never raises into the application, a forked child included
            log.warning("fork", "audit publisher could not restart after fork: %s", exc)


def _close_when_a_multiprocessing_child_ends(publisher: Restartable) -> None:
    """A multiprocessing child ends with os._exit, which skips atexit; its finalizers still run. It clears
    the finalizers it inherited when it starts, then runs its after-fork callbacks: register from there."""
    import multiprocessing.util

    def finalize(target: Restartable) -> None:
        multiprocessing.util.Finalize(None, _close_at_exit, args=(weakref.ref(target),), exitpriority=100)

    multiprocessing.util.register_after_fork(publisher, finalize)


os.register_at_fork(before=_hold_builds, after_in_parent=_release_builds, after_in_child=_restart_in_child)

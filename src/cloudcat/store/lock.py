"""The refresh lock: one refresh at a time per store, readers never wait for it.

A SQLite store locks a file next to the database (``<store>.refresh-lock``) with ``flock``; the
operating system releases it when the holder exits, however it exits. The holder writes when and
where it started into the file, so that a refresh refused or kept waiting can say
"another refresh is running since …". An in-memory store locks within the process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import StoreError

__all__ = ["RefreshLockedError", "file_lock", "holder_text", "thread_lock", "wait_for"]

#: How often a waiting refresh tries the lock again.
POLL_SECONDS = 0.1


class RefreshLockedError(StoreError):
    """Another refresh holds the store's refresh lock (and the caller would not wait, or waited
    longer than it allowed)."""


def holder_text() -> str:
    """What a lock holder records about itself: when it started, its process and host."""
    return json.dumps({"since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "pid": os.getpid(),
                       "host": socket.gethostname()})


def describe(record: str | None) -> str:
    """``since <time> (pid <n> on <host>)`` from a holder record, tolerant of a half-written one."""
    try:
        data = json.loads(record or "")
        return f"since {data['since']} (pid {data['pid']} on {data['host']})"
    except (ValueError, KeyError, TypeError):
        return "since an unknown time"


def wait_for(try_once: Callable[[], bool], holder: Callable[[], str | None], *, wait: bool,
             timeout: float | None, store: str) -> None:
    """Call ``try_once`` until it takes the lock; give up at once (``wait=False``) or after
    ``timeout`` seconds with :class:`RefreshLockedError` naming the holder."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not try_once():
        if not wait or (deadline is not None and time.monotonic() >= deadline):
            waited = "" if not wait else f" (waited {timeout:g} s)"
            raise RefreshLockedError(f"snapshot store {store}: another refresh is running "
                                     f"{describe(holder())}{waited}")
        time.sleep(POLL_SECONDS)


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool, timeout: float | None, store: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` while the block runs."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"snapshot store {store}: cannot open the refresh lock {path}: "
                         f"{exc.strerror or exc}") from exc

    def try_once() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def holder() -> str | None:
        with contextlib.suppress(OSError):
            return os.pread(fd, 4096, 0).decode(errors="replace")
        return None

    try:
        wait_for(try_once, holder, wait=wait, timeout=timeout, store=store)
        try:
            record = holder_text().encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def thread_lock(lock: threading.Lock, record: list[str], *, wait: bool, timeout: float | None,
                store: str) -> Iterator[None]:
    """The same within one process (for stores that only this process sees)."""
    wait_for(lambda: lock.acquire(blocking=False), lambda: record[0] if record else None,
             wait=wait, timeout=timeout, store=store)
    try:
        record[:] = [holder_text()]
        yield
    finally:
        record.clear()
        lock.release()

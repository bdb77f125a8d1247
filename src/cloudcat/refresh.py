"""Reading backends for a refresh, with bounded threads, bounded memory and deadlines.

Every task of a refresh — listing one backend's regions, then listing one kind in one region —
runs on one :class:`TaskPool` whose size is the configured ``concurrency``, however many
backends there are. The pool takes the tasks of the backends in the order they were given, so a
few backends are being read at any time, not all of them; as soon as one is done with, its
driver's connections are released (:meth:`cloudcat.driver.BaseDriver.release_connections`: those
of the sessions it fitted through :mod:`cloudcat.http`), so open sockets, like threads, follow
the concurrency and not the number of backends.

Workers hand items over in batches through a bounded queue to the thread that runs the refresh,
which appends them to one :class:`Spool` (a temporary file of JSON lines) per backend; composing
and storing then stream from the spools. Memory therefore holds a few batches, not the catalog.

Each backend has a deadline (``backend_deadline``, or its own ``deadline``) and the refresh has
one (``refresh_deadline``). Its tasks run under it (:func:`cloudcat.http.within`), so a driver's
HTTP calls on a session fitted by :mod:`cloudcat.http` end by then, a body trickling in included.
When a deadline passes the backend fails and keeps its previous items, and its driver is handed
to ``abandon`` (the catalog closes it, which shuts the sockets of calls still under way); a
worker still stuck in a call no deadline reaches is abandoned (worker threads are daemons, so a
hung socket never keeps the process alive) and its late results are ignored.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from .driver import Driver
from .errors import CloudcatError, redact
from .http import Deadline, within
from .models import BackendStatus, Kind, Region, bounds_violation, nul_path, surrogate_path
from .store import StoredItem
from .yamlfile import dotted

__all__ = ["BackendReader", "Spool", "TaskPool", "item_log"]

log = logging.getLogger("cloudcat.catalog")
#: Items dropped for values out of range: a logger of their own, so that a command quieting the
#: catalog's backend warnings (shown another way) still shows them.
item_log = logging.getLogger("cloudcat.items")

_T = TypeVar("_T")
#: Items per hand-over from a worker to the refresh thread.
BATCH = 1000


_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class TaskPool:
    """A fixed number of daemon worker threads running submitted calls, started as needed; a
    free worker takes the waiting call of lowest ``order`` (the first submitted among equals)."""

    def __init__(self, size: int, *, name: str = "cloudcat-task") -> None:
        self._size = max(1, size)
        self._name = name
        self._jobs: queue.PriorityQueue[tuple[float, int, _Job | None]] = queue.PriorityQueue()
        self._count = itertools.count()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., _T], *args: Any, order: float = 0) -> Future[_T]:
        """Run ``fn(*args)`` on a worker; the future holds its result or exception."""
        future: Future[_T] = Future()
        with self._lock:
            if self._idle == 0 and len(self._threads) < self._size:
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1  # this job will take an idle worker
        self._jobs.put((order, next(self._count), (future, fn, args)))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()[2]
            if job is None:
                return
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to whoever reads the future
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Let every worker end once its current call returns (without waiting for it)."""
        with self._lock:
            count = len(self._threads)
        for _ in range(count):
            self._jobs.put((math.inf, next(self._count), None))


class Spool:
    """The items read from one backend, in a temporary file of JSON lines."""

    def __init__(self, directory: Path, backend: str, driver: str) -> None:
        self.backend = backend
        self.driver = driver
        self.path = directory / f"{len(list(directory.iterdir()))}.jsonl"
        self._file: IO[str] = self.path.open("w", encoding="utf-8")
        self.count = 0

    def add_lines(self, read_at: dt.datetime, lines: Sequence[str]) -> None:
        """Append items already serialised as JSON."""
        stamp = read_at.isoformat()
        self._file.writelines(f"{stamp}\t{line}\n" for line in lines)
        self.count += len(lines)

    def add(self, stored: StoredItem) -> None:
        """Append one item."""
        self.add_lines(stored.read_at, [stored.json()])

    def close(self) -> None:
        """Finish writing (reading stays possible)."""
        self._file.close()

    def records(self) -> Iterator[tuple[dt.datetime, dict[str, Any]]]:
        """Each item as when it was read and its JSON data, without building models (composing
        reads this: see :class:`cloudcat.compose.ItemRecords`)."""
        if not self._file.closed:
            self._file.flush()
        last, when = "", _now()
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                stamp, _, data = line.partition("\t")
                if stamp != last:  # one stamp per batch: parse it once
                    last, when = stamp, dt.datetime.fromisoformat(stamp)
                yield when, json.loads(data)

    def __iter__(self) -> Iterator[StoredItem]:
        if not self._file.closed:
            self._file.flush()
        last, when = "", _now()
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                stamp, _, data = line.partition("\t")
                if stamp != last:
                    last, when = stamp, dt.datetime.fromisoformat(stamp)
                yield StoredItem.from_json(self.backend, self.driver, when, data.rstrip("\n"))


@dataclass
class _Backend:
    """What the refresh thread knows of one backend being read."""

    name: str
    order: int  # its place among the backends: the pool takes its tasks in this order
    driver: Driver
    spool: Spool
    deadline: float
    started: float
    #: when its reading began: the ``read_at`` of every item it gives in this refresh, so that an
    #: unchanged item reads back the same whichever of its tasks (region, kind, page) gave it
    read_at: dt.datetime = field(default_factory=lambda: _now())
    cancelled: threading.Event = field(default_factory=threading.Event)
    outstanding: int = -1  # tasks not finished; -1 until its regions are known
    abandoned: bool = False  # its deadline passed, its driver went to ``abandon``
    waiting: int = 0  # tasks submitted, not started
    lock: threading.Lock = field(default_factory=threading.Lock)
    futures: list[Future[None]] = field(default_factory=list)

    @property
    def limit(self) -> Deadline:
        """The deadline its calls run under: passed at its deadline, or once it is done with."""
        return Deadline(self.deadline, self.cancelled)


_Event = tuple[str, str, Any]  # backend, what, payload


class BackendReader:
    """Reads backends side by side on one :class:`TaskPool`, spooling what they send."""

    def __init__(self, drivers: Callable[[str], Driver], *, directory: Path, concurrency: int,
                 deadline_of: Callable[[str], float], refresh_deadline: float,
                 driver_names: Callable[[str], str], abandon: Callable[[str], None],
                 on_step: Callable[[str, str, str, int], None] | None = None) -> None:
        self._drivers = drivers
        self._directory = directory
        self._concurrency = max(1, concurrency)
        self._deadline_of = deadline_of
        self._refresh_deadline = refresh_deadline
        self._driver_names = driver_names
        self._abandon = abandon
        self._on_step = on_step
        self._events: queue.Queue[_Event] = queue.Queue(maxsize=4 * self._concurrency)

    def run(self, names: Sequence[str], progress: Callable[[BackendStatus], None] | None = None
            ) -> dict[str, tuple[Spool, BackendStatus]]:
        """Read ``names``; each backend's spool (complete only when its status is ``ok``) and status."""
        pool = TaskPool(self._concurrency)
        start = time.monotonic()
        end = start + self._refresh_deadline
        reading: dict[str, _Backend] = {}
        done: dict[str, tuple[Spool, BackendStatus]] = {}
        try:
            for order, name in enumerate(names):
                state = _Backend(name=name, order=order, driver=self._drivers(name), started=start,
                                 spool=Spool(self._directory, name, self._driver_names(name)),
                                 deadline=min(end, start + self._deadline_of(name)))
                reading[name] = state
                state.futures.append(pool.submit(self._regions, state, order=order))
            while reading:
                finished = self._step(pool, reading)
                for state, status in finished:
                    del reading[state.name]
                    state.spool.close()
                    if not state.abandoned:  # (an abandoned driver is the catalog's to close)
                        # its tasks are over, or stop at their next call: its connections are
                        # closed at once, by a worker, ahead of other tasks
                        pool.submit(_release, state.name, state.driver, order=-1)
                    done[state.name] = (state.spool, status)
                    if progress is not None:
                        progress(status)
        finally:
            for state in reading.values():
                state.cancelled.set()
                state.spool.close()
            pool.shutdown()
        return done

    def _step(self, pool: TaskPool, reading: dict[str, _Backend]) -> list[tuple[_Backend, BackendStatus]]:
        """Handle one event, or the deadlines that passed; the backends this finished."""
        now = time.monotonic()
        overdue = [s for s in reading.values() if s.deadline <= now]
        if overdue:
            return [(s, self._timed_out(s)) for s in overdue]
        try:
            name, what, payload = self._events.get(timeout=min(s.deadline for s in reading.values()) - now)
        except queue.Empty:
            return []
        state = reading.get(name)
        if state is None or state.cancelled.is_set():
            return []  # a late event from a backend already finished
        return self._handle(pool, state, what, payload)

    def _handle(self, pool: TaskPool, state: _Backend, what: str,
                payload: Any) -> list[tuple[_Backend, BackendStatus]]:
        if what == "items":
            read_at, lines = payload
            state.spool.add_lines(read_at, lines)
            return []
        if what == "regions":
            regions, kinds = payload
            state.outstanding = state.waiting = len(regions) * len(kinds)
            state.futures += [pool.submit(self._read, state, kind, region, order=state.order)
                              for region in regions for kind in kinds]
        elif what == "done":
            state.outstanding -= 1
            if self._on_step is not None:
                kind, region, count = payload
                self._on_step(state.name, kind.value, region.name, count)
        else:
            state.cancelled.set()
            return [(state, self._failed(state, payload))]
        if state.outstanding == 0:
            state.cancelled.set()
            return [(state, self._ok(state))]
        return []

    # -- worker side -------------------------------------------------------------------------------
    def _emit(self, state: _Backend, what: str, payload: Any) -> None:
        # the queue is bounded so fast drivers wait for the writer; a finished backend stops waiting
        while not state.cancelled.is_set():
            try:
                self._events.put((state.name, what, payload), timeout=0.2)
                return
            except queue.Full:
                continue

    def _regions(self, state: _Backend) -> None:
        state.read_at = _now()  # its first task: its reading begins (set before its other tasks exist)
        try:
            with within(state.limit):
                regions = list(state.driver.regions())
            kinds = sorted(type(state.driver).capabilities.kinds)
        except Exception as exc:  # reported as the backend's failure
            self._emit(state, "error", exc)
            return
        # the tasks of the backends before it come first: its idle connections are not kept meanwhile
        _release(state.name, state.driver, idle=True)
        self._emit(state, "regions", (regions, kinds))

    def _read(self, state: _Backend, kind: Kind, region: Region) -> None:
        with state.lock:
            state.waiting -= 1
        count = 0
        try:
            with within(state.limit):
                count = self._spool_items(state, kind, region)
        except Exception as exc:  # reported as the backend's failure
            self._emit(state, "error", exc)
            return
        finally:
            if not state.waiting:  # none of its tasks will take this connection again: close it
                _release(state.name, state.driver, idle=True)
        if not state.cancelled.is_set():
            self._emit(state, "done", (kind, region, count))

    def _spool_items(self, state: _Backend, kind: Kind, region: Region) -> int:
        """Hand the items of one kind in one region to the refresh thread in batches; how many."""
        count = 0
        batch: list[str] = []
        for item in state.driver.read(kind, region):
            if state.cancelled.is_set():
                return count
            bad = bounds_violation(item)
            if bad is not None:
                item_log.warning("backend %s: %s item %r in region %s dropped: field %s is out of range "
                                 "(integers up to 2**53, finite numbers)", state.name, kind.value, item.name,
                                 region.name, bad)
                continue
            # what model_dump_json gives, without its wrapper's cost (a microsecond an item)
            try:
                line = item.__pydantic_serializer__.to_json(item, exclude_none=True).decode()
            except PydanticSerializationError:
                where = surrogate_path(item)
                if where is None:
                    raise
                item_log.warning("backend %s: %s item %r in region %s dropped: field %s holds a lone "
                                 "surrogate (no Unicode character)", state.name, kind.value, item.name,
                                 region.name, dotted(where))
                continue
            if "\\u0000" in line:  # JSON writes a NUL so (or a text holds those six characters)
                where = nul_path(item)
                if where is not None:
                    item_log.warning("backend %s: %s item %r in region %s dropped: field %s holds a NUL "
                                     "character", state.name, kind.value, item.name, region.name, dotted(where))
                    continue
            batch.append(line)
            count += 1
            if len(batch) >= BATCH:
                self._emit(state, "items", (state.read_at, batch))
                batch = []
        self._emit(state, "items", (state.read_at, batch))
        return count

    # -- outcomes ----------------------------------------------------------------------------------
    def _seconds(self, state: _Backend) -> float:
        return round(time.monotonic() - state.started, 3)

    def _ok(self, state: _Backend) -> BackendStatus:
        status = BackendStatus(backend=state.name, driver=state.spool.driver, status="ok", items=state.spool.count,
                               seconds=self._seconds(state), read_at=state.read_at)
        log.info("backend %s: %d items in %.2fs", state.name, status.items, status.seconds)
        return status

    def _failed(self, state: _Backend, exc: BaseException) -> BackendStatus:
        for future in state.futures:
            future.cancel()
        message = failure_message(state.name, exc, state.driver)
        log.warning("backend %s failed: %s", state.name, message)
        log.debug("backend %s failure", state.name, exc_info=exc if log.isEnabledFor(logging.DEBUG) else None)
        return BackendStatus(backend=state.name, driver=state.spool.driver, status="failed", error=message,
                             seconds=self._seconds(state), read_at=None)

    def _timed_out(self, state: _Backend) -> BackendStatus:
        state.cancelled.set()
        for future in state.futures:
            future.cancel()
        state.abandoned = True
        self._abandon(state.name)
        seconds = self._seconds(state)
        message = f"deadline passed: still reading after {seconds:g} s; the rest was abandoned"
        log.warning("backend %s failed: %s", state.name, message)
        return BackendStatus(backend=state.name, driver=state.spool.driver, status="failed", error=message,
                             seconds=seconds, read_at=None)


def _release(name: str, driver: Driver, *, idle: bool = False) -> None:
    """Close the connections of a driver (best effort): see :meth:`BaseDriver.release_connections`
    (a driver without that method keeps its connections until the catalog closes it)."""
    release = getattr(driver, "release_connections", None)
    if release is None:
        return
    try:
        release(idle=idle)
    except Exception:  # closing is best effort
        log.debug("closing the connections of %s failed", name, exc_info=True)


def failure_message(name: str, exc: BaseException, driver: Driver | None) -> str:
    """What a status says of a backend's failure: the error, without secrets or the backend's name."""
    if isinstance(exc, CloudcatError):
        message = str(exc)
    elif isinstance(exc, ValidationError):
        message = f"invalid item from the backend: {exc.errors()[0]['msg']}"
    else:
        message = f"{type(exc).__name__}: {exc}"
    message = redact(message, driver.secrets() if driver is not None else [])
    while message.startswith(f"{name}: "):  # the status already names the backend
        message = message[len(name) + 2:]
    return message


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

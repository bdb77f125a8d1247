"""The driver interface, and the default behaviour drivers extend.

A driver knows one technology (OpenStack, Cloud Director, a static price list…). It is a
small, synchronous class:

* :meth:`Driver.regions` lists the regions (and zones) the backend serves;
* :meth:`Driver.items` lists the catalog items of one kind in one region, every page;
* :meth:`Driver.read` is what the catalog calls: those items, with their region and country;
* :meth:`Driver.check` verifies the credentials;
* :meth:`Driver.secrets` names the secret values to keep out of anything the driver lets out.

It declares what it can do in :attr:`Driver.capabilities`, and the options it accepts as a
pydantic model in :attr:`BaseDriver.Options` (secrets as :class:`pydantic.SecretStr`, so they
never show in reprs or errors). A driver that speaks HTTP takes its options, error mapping and
retries from :mod:`cloudcat.http`, and names the third-party loggers it wants quiet outside
``--debug`` in :attr:`BaseDriver.quiet_loggers`.

The catalog calls one driver instance from several threads at once (one task per region and
kind), so drivers keep per-call state local and share only thread-safe clients. A driver that
wants independent requests of one listing sent at once runs them through :func:`concurrently`,
which adds a few shared threads at most, however many tasks do so. A driver on a ``requests``
session (its own, or a vendor SDK's) passes it through :meth:`BaseDriver.http_session`: its calls
then end at the backend's deadline, and the refresh closes its connections once the backend is
read (:meth:`BaseDriver.release_connections`).

Drivers register through the ``cloudcat.drivers`` entry-point group::

    [project.entry-points."cloudcat.drivers"]
    acme = "cloudcat_acme:AcmeDriver"
"""

from __future__ import annotations

import abc
import contextvars
import importlib
import logging
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import BackendTimeoutError, ConfigError, MissingDependencyError, NotSupportedError, redact
from .models import Item, Kind, Region
from .secrets import find_secrets, mask_secrets

if TYPE_CHECKING:
    import requests

    from .http import Deadline

__all__ = [
    "BaseDriver",
    "Capabilities",
    "Driver",
    "DriverOptions",
    "LoadCache",
    "OptionNameDeprecation",
    "concurrently",
    "import_sdk",
    "quiet_driver_loggers",
]

log = logging.getLogger("cloudcat.driver")


class Capabilities(BaseModel):
    """What a driver can do. The conformance kit checks each declared capability and skips,
    with a reason, the ones that are not declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: frozenset[Kind] = Field(description="Kinds of items the driver lists.")
    zones: bool = Field(default=False, description="Items carry availability zones.")
    prices: bool = Field(default=False, description="The backend itself supplies prices.")
    paging: bool = Field(default=False, description="Listings are paged by the backend.")
    flexible_compute: bool = Field(default=False, description="Lists flexible (pool-sized) compute.")
    lifecycle: bool = Field(default=False, description="The backend reports sale status.")


class OptionNameDeprecation(DeprecationWarning):
    """A driver option was given under its former name (still accepted)."""


class DriverOptions(BaseModel):
    """Options every driver accepts; drivers subclass this with their own fields."""

    model_config = ConfigDict(extra="forbid")

    #: Former option names, each with its current name: still accepted, with an
    #: :class:`OptionNameDeprecation` warning.
    renamed: ClassVar[Mapping[str, str]] = {}

    timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for one backend call.")
    regions: list[str] | None = Field(
        default=None, description="Regions to read; default: every region the backend lists.")

    @model_validator(mode="before")
    @classmethod
    def _current_names(cls, data: Any) -> Any:
        if not cls.renamed or not isinstance(data, Mapping):
            return data
        out = dict(data)
        for old, new in cls.renamed.items():
            if old not in out:
                continue
            if new in out:
                raise ValueError(f"give {new!r} only ({old!r} is its former name)")
            warnings.warn(f"driver option {old!r} is deprecated: it is now called {new!r}",
                          OptionNameDeprecation, stacklevel=2)
            out[new] = out.pop(old)
        return out

    def secrets(self) -> list[str]:
        """Every secret value among the options, for redaction (see :func:`cloudcat.secrets.find_secrets`)."""
        return find_secrets(self)

    def __repr_args__(self) -> Any:
        # a password may sit in a URL option (https://user:pw@host) or a plain str under a secret name
        for name, value in super().__repr_args__():
            yield name, mask_secrets({name: value})[name] if isinstance(name, str) else value


@runtime_checkable
class Driver(Protocol):
    """What the catalog needs from a driver. Extend :class:`BaseDriver` rather than
    implementing this from scratch."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    backend: str

    def regions(self) -> Sequence[Region]:
        """Regions the backend serves (honouring the ``regions`` option)."""
        ...

    def items(self, kind: Kind, region: str) -> Iterable[Item]:
        """Every item of ``kind`` in ``region``, all pages."""
        ...

    def read(self, kind: Kind, region: Region) -> Iterable[Item]:
        """Every item of ``kind`` in ``region``, each with its region and the region's country."""
        ...

    def check(self) -> None:
        """Raise :class:`cloudcat.errors.AuthenticationError` (or another backend error) when the
        credentials do not work."""
        ...

    def secrets(self) -> list[str]:
        """Secret values (option secrets, tokens the driver holds) to redact from what it lets out."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


_T = TypeVar("_T")


class LoadCache:
    """Values a driver loads once and reuses for a while (regions, per-datacenter or per-VDC
    listings that several kinds of one refresh read): one load at a time per key, so calls of
    one refresh running side by side share it rather than each asking the backend."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._values: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, load: Callable[[], _T], seconds: float) -> _T:
        """``load()``, or what it returned less than ``seconds`` ago for ``key``."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < seconds:
                return hit[1]  # type: ignore[no-any-return]
            value = load()
            self._values[key] = (time.monotonic(), value)
            return value


#: Threads :func:`concurrently` may add, for the whole process (a refresh's tasks share them):
#: with the process's main thread, a refresh runs on at most its ``concurrency`` + 8 threads.
SIDE_THREADS = 7


class _Group:
    """The calls of one :func:`concurrently`: which is next, how many run, their results."""

    __slots__ = ("at_most", "calls", "context", "deadline", "futures", "next", "running")

    def __init__(self, calls: Sequence[Callable[[], Any]], at_most: int, context: contextvars.Context,
                 deadline: Deadline | None) -> None:
        self.calls = calls
        self.futures: list[Future[Any]] = [Future() for _ in calls]
        self.at_most = at_most
        self.context = context
        self.deadline = deadline
        self.next = 0
        self.running = 0


class _SideThreads:
    """The side threads of the process and the groups of calls they help with, oldest first.

    A side thread takes the next call of the oldest group that has one left and runs fewer than
    its ``at_most`` calls, and ends when there is none; threads are started (up to
    :data:`SIDE_THREADS`) when a group comes with calls to spare."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._groups: list[_Group] = []
        self._threads = 0

    def run(self, group: _Group) -> list[Any]:
        spare = min(len(group.calls), group.at_most) - 1
        with self._lock:
            if spare > 0:
                self._groups.append(group)
            start = min(spare, self._size - self._threads)
            self._threads += max(0, start)
        for started in range(max(0, start)):
            try:
                threading.Thread(target=self._work, name="cloudcat-side", daemon=True).start()
            except RuntimeError:  # the system refuses another thread: the caller and those started do the work
                with self._lock:
                    self._threads -= start - started
                break
        while True:  # the caller works through its own calls too
            index = self._take(group)
            if index is not None:
                self._call(group, index)
            elif group.next < len(group.calls):  # ``at_most`` run elsewhere: wait for one to end
                futures.wait([f for f in group.futures[:group.next] if not f.done()],
                             return_when=futures.FIRST_COMPLETED)
            else:
                return [future.result() for future in group.futures]

    def _take(self, group: _Group) -> int | None:
        with self._lock:
            return self._next_of(group)

    def _next_of(self, group: _Group) -> int | None:
        """The next call of ``group`` (counted as running), if any is left; the lock is held."""
        if group.next >= len(group.calls) or group.running >= group.at_most:
            return None
        index = group.next
        group.next += 1
        group.running += 1
        if group.next == len(group.calls) and group in self._groups:
            self._groups.remove(group)
        return index

    def _call(self, group: _Group, index: int) -> None:
        future = group.futures[index]
        try:
            if group.deadline is not None and group.deadline.passed():  # the backend is done with
                raise BackendTimeoutError("deadline passed: the call was not started")
            result = group.context.copy().run(group.calls[index])
        except BaseException as exc:  # handed to the caller through the future
            self._ended(group)
            future.set_exception(exc)
        else:
            self._ended(group)
            future.set_result(result)

    def _ended(self, group: _Group) -> None:
        """One call of ``group`` ended (before its future says so: a caller waiting on it finds
        room for its next call)."""
        with self._lock:
            group.running -= 1

    def _work(self) -> None:
        while True:
            with self._lock:
                found = next(((g, i) for g in list(self._groups) if (i := self._next_of(g)) is not None), None)
                if found is None:
                    self._threads -= 1
                    return
            self._call(*found)


_side = _SideThreads(SIDE_THREADS)


def concurrently(*calls: Callable[[], Any], at_most: int | None = None) -> list[Any]:
    """The results of independent calls (requests of one listing that do not depend on each
    other), in order, run at once where side threads are free; the first failure, in order, is
    raised once every call has ended.

    The caller works through its calls, and the side threads of the process (at most
    :data:`SIDE_THREADS`, shared by every caller) help, each taking the next call of the oldest
    caller that has one left; at most ``at_most`` of these calls run at once. However many tasks
    call this, the threads it adds stay bounded; a caller never waits for a thread (nested calls
    cannot deadlock), and a side thread freed by one caller helps the next. Each call runs in a
    copy of the caller's context, so the backend's deadline (:func:`cloudcat.http.within`)
    carries over; once it has passed, the calls not started yet are not started (each is a
    :class:`~cloudcat.errors.BackendTimeoutError`).
    """
    from .http import current_deadline  # (that module imports this one)

    limit = len(calls) if at_most is None else max(1, at_most)
    return _side.run(_Group(calls, limit, contextvars.copy_context(), current_deadline()))


class BaseDriver(abc.ABC):
    """Default behaviour drivers extend.

    Subclasses set :attr:`name`, :attr:`capabilities`, optionally :attr:`Options`, and implement
    :meth:`list_regions` and :meth:`list_items`. The base class validates options, filters regions,
    turns regions into ``location`` items, checks kinds against the capabilities, fills each
    item's region and country, redacts secrets from errors and gives a repr without secrets.
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset())
    Options: ClassVar[type[DriverOptions]] = DriverOptions
    #: Third-party loggers (an SDK's, an HTTP library's) and the lowest level each shows outside
    #: ``--debug``, e.g. ``{"httpx": logging.WARNING}``; see :func:`quiet_driver_loggers`.
    quiet_loggers: ClassVar[Mapping[str, int]] = {}

    def __init__(self, options: Mapping[str, Any] | DriverOptions | None = None, *,
                 backend: str | None = None) -> None:
        self.backend = backend or self.name
        if isinstance(options, DriverOptions):
            self.options = options
        else:
            try:
                self.options = self.Options.model_validate(dict(options or {}))
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                raise ConfigError(first["msg"], source=f"backend {self.backend!r} options",
                                  field=field) from None
        _quiet(self.quiet_loggers)

    # -- what subclasses implement -------------------------------------------------------------
    @abc.abstractmethod
    def list_regions(self) -> Sequence[Region]:
        """Every region the backend serves."""

    @abc.abstractmethod
    def list_items(self, kind: Kind, region: str) -> Iterable[Item]:
        """Items of one kind in one region (``location`` goes to :meth:`list_locations`)."""

    # -- the interface, with default behaviour -------------------------------------------------
    def regions(self) -> Sequence[Region]:
        """Regions, restricted to the ``regions`` option when it is set."""
        found = list(self.list_regions())
        wanted = self.options.regions
        if wanted:
            known = {r.name for r in found}
            missing = [w for w in wanted if w not in known]
            if missing:
                raise ConfigError(f"unknown region(s) {', '.join(missing)}; the backend serves "
                                  f"{', '.join(sorted(known)) or 'none'}",
                                  source=f"backend {self.backend!r} options", field="regions")
            found = [r for r in found if r.name in wanted]
        return found

    def items(self, kind: Kind, region: str) -> Iterator[Item]:
        """Items of ``kind`` in ``region``; raises :class:`NotSupportedError` for undeclared kinds."""
        kind = Kind(kind)
        if kind not in self.capabilities.kinds:
            raise NotSupportedError(f"driver {self.name!r} does not list {kind.value} items")
        if kind == Kind.LOCATION:
            yield from self.list_locations(region)
            return
        yield from self.list_items(kind, region)

    def read(self, kind: Kind, region: Region) -> Iterator[Item]:
        """:meth:`items` of ``kind`` in ``region``, with ``region`` (but on ``location`` items,
        which name their own) and the region's ``country`` filled in where the driver left them empty."""
        for item in self.items(kind, region.name):
            update: dict[str, str] = {}
            if item.region is None and item.kind != Kind.LOCATION:
                update["region"] = region.name
            if item.country is None and region.country:
                update["country"] = region.country
            yield item.model_copy(update=update) if update else item

    def list_locations(self, region: str) -> list[Item]:
        """Default ``location`` items: the region itself and each of its zones."""
        for r in self.list_regions():
            if r.name == region:
                items = [Item(kind=Kind.LOCATION, name=r.name, display_name=r.display_name,
                              region=r.name, country=r.country, zones=list(r.zones))]
                items += [Item(kind=Kind.LOCATION, name=f"{r.name}/{z}", region=r.name, zone=z,
                               country=r.country) for z in r.zones]
                return items
        return []

    def check(self) -> None:
        """Default credential check: list the regions."""
        self.list_regions()

    def http_session(self, session: requests.Session | None = None, *,
                     pool_size: int | None = None) -> requests.Session:
        """``session`` (a new one when ``None``; a vendor SDK's) fitted by
        :func:`cloudcat.http.fit_session`: its calls end at the backend's deadline, and
        :meth:`release_connections` (so :meth:`close` too) closes its connections, those of calls
        under way included. Keep using the session afterwards: it reconnects when next used."""
        from .http import POOL_SIZE, fit_session

        fitted = fit_session(session, pool_size=POOL_SIZE if pool_size is None else pool_size)
        with _SESSIONS_LOCK:
            self.__dict__.setdefault("_http_sessions", weakref.WeakSet()).add(fitted)
        return fitted

    def release_connections(self, *, idle: bool = False) -> None:
        """Close the connections of the sessions made through :meth:`http_session`, those of calls
        under way included (they fail at once); they reopen when next used, with the same login.
        With ``idle``, only the connections no call uses are closed now (the others go back to
        their pool as their calls end). Nothing else is closed: a driver on other clients keeps
        its connections (and logins) until :meth:`close`.

        The refresh calls it with ``idle`` once a backend's regions are listed and whenever one of
        its tasks ends with none of its tasks left waiting; then once the backend is read or has failed.
        """
        from .http import close_idle

        with _SESSIONS_LOCK:
            sessions = list(self.__dict__.get("_http_sessions", []))
        for session in sessions:
            if idle:
                close_idle(session)
            else:
                session.close()

    def close(self) -> None:
        """Release connections: close the sessions made through :meth:`http_session` (nothing more
        by default)."""
        with _SESSIONS_LOCK:
            sessions = list(self.__dict__.get("_http_sessions", []))
        for session in sessions:
            session.close()

    def secrets(self) -> list[str]:
        """Secret values to redact from anything this driver lets out."""
        return self.options.secrets()

    def redact(self, text: str) -> str:
        """``text`` with this driver's secrets removed."""
        return redact(text, self.secrets())

    def __enter__(self) -> BaseDriver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        # pydantic's repr shows SecretStr as '**********'
        return f"<{type(self).__name__} backend={self.backend!r} options={self.options!r}>"


_SESSIONS_LOCK = threading.Lock()


class _Quieting:
    """The level set by :func:`quiet_driver_loggers` (``None``: loggers are left alone)."""

    level: int | None = None


def quiet_driver_loggers(level: int | None) -> None:
    """From now on, each driver created sets the third-party loggers its class names in
    :attr:`BaseDriver.quiet_loggers` to ``level`` or the level declared there, whichever is higher.

    The CLI calls this outside ``--debug``, so that an SDK's chatter shows only when asked for;
    ``None`` stops it (loggers already set keep their level).
    """
    _Quieting.level = level


def _quiet(loggers: Mapping[str, int]) -> None:
    level = _Quieting.level
    if level is None:
        return
    for name, floor in loggers.items():
        logging.getLogger(name).setLevel(max(level, floor))


def import_sdk(module: str, package: str) -> ModuleType:
    """Import a cloud SDK on first use; when it is missing, say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"this driver needs the Python module {module!r}: pip install {package}",
            package=package) from exc

"""The ``cloudcat`` command.

Exit status: 0 success; 1 failure (nothing could be read or stored); 2 usage or configuration
error; 3 some backends failed but the others were stored. Errors are one line on stderr; the
global ``--debug`` flag (before the subcommand) shows tracebacks, debug logs and other libraries'
warnings; ``-v`` cloudcat's own steps. ``--config`` and ``--store`` are accepted before the
subcommand as well as after it.

Listing commands print tables that fit the terminal (``-c/--column`` picks the columns, ``-f
value`` prints bare values), and JSON, CSV and YAML row by row (``docs/exports.md``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import functools
import itertools
import json
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from . import __version__
from .errors import CloudcatError, ConfigError, DriverError, NotSupportedError, OfferNotFoundError
from .filters import FILTERS, AtLeast, Filter, Flag, OneOf
from .models import Offer
from .output import (
    FOCUS_CSV_COLUMNS,
    OFFER_CSV_COLUMNS,
    Format,
    RefreshDisplay,
    default_format,
    focus_csv_row,
    offer_csv_row,
    render,
    render_table,
    select_columns,
    write_rows,
)
from .query import SORTS, SortOrder

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

OFFER_COLUMNS = [("id", "id"), ("name", "display_name"), ("vCPU", "vcpus"), ("MiB", "memory_mib"),
                 ("price", "price.amount"), ("cur", "price.currency"), ("unit", "price.unit"),
                 ("zones", "zones"), ("labels", "labels"), ("lifecycle", "lifecycle.status"),
                 ("operator", "operator")]


OFFER_ALL_COLUMNS = [*OFFER_COLUMNS[:2], ("kind", "kind"), ("region", "region"), *OFFER_COLUMNS[2:],
                     ("brand", "brand"), ("backend", "backend")]
#: Counts and sizes on the command line: SQLite's and PostgreSQL's integers hold up to 2**63 - 1.
_COUNT = click.IntRange(min=0, max=2**63 - 1)
#: A snapshot id as the store numbers them.
_SNAPSHOT = click.IntRange(min=-(2**63), max=2**63 - 1)


class _AsOf(click.ParamType[dt.datetime | dt.date]):
    """``--as-of``: a date (``YYYY-MM-DD``, meaning the end of that day) or a time
    (``YYYY-MM-DDTHH:MM:SS``, meaning that moment, midnight included), UTC."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.datetime | dt.date:
        if isinstance(value, (dt.date, dt.datetime)):
            return value
        text = str(value)
        try:
            return dt.datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            pass
        try:
            return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            self.fail(f"{text!r} is neither a date (YYYY-MM-DD) nor a time (YYYY-MM-DDTHH:MM:SS)", param, ctx)


#: What an offers table shows unless -c/--column says otherwise: few enough for 80 columns.
OFFER_DEFAULT_COLUMNS = ["id", "vCPU", "MiB", "price", "cur", "unit"]


class _State:
    debug = False
    verbose = 0
    config: str | None = None
    store: str | None = None


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"cloudcat: error: {message}", err=True)
    sys.exit(code)


def _guard(fn: F) -> F:
    """Turn cloudcat errors into one-line messages and exit codes (tracebacks with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except (ConfigError, DriverError, NotSupportedError) as exc:
            if _State.debug:
                raise
            _fail(str(exc), 2)
        except OfferNotFoundError as exc:
            if _State.debug:
                raise
            _fail(str(exc), 1)
        except CloudcatError as exc:
            if _State.debug:
                raise
            _fail(str(exc), 1)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, BrokenPipeError):
            raise
        except OSError as exc:  # files the user named: outputs, inventories
            if _State.debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", 1)
        except Exception as exc:  # a bug: say so in one line, the traceback is one flag away
            if _State.debug:
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc} (run `cloudcat --debug …` for the traceback)", 1)

    return wrapper  # type: ignore[return-value]


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """cloudcat's own notices (brand aliases, lifecycle) always; other libraries' only with -v."""
    from .brands import BrandNameDeprecation
    from .catalog import OfferLifecycleWarning

    ours = issubclass(category, (BrandNameDeprecation, OfferLifecycleWarning))
    noise = issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))
    if ours or _State.debug or (_State.verbose and not noise):
        click.echo(f"cloudcat: notice: {message}", err=True)


def _config_options(fn: F) -> F:
    fn = click.option("--store", "store", type=str, default=None,
                      help="Snapshot store: SQLite file or database URL (overrides the config).")(fn)
    fn = click.option("--config", "-c", "config", type=click.Path(dir_okay=False), default=None,
                      help="Configuration file (default $CLOUDCAT_CONFIG, else ./cloudcat.yaml).")(fn)
    return fn


def _listing_options(fn: F) -> F:
    """--config/--store, and -c/--column (``-c FILE`` naming a configuration file still means --config)."""
    fn = click.option("--store", "store", type=str, default=None,
                      help="Snapshot store: SQLite file or database URL (overrides the config).")(fn)
    fn = click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                      help="Configuration file (default $CLOUDCAT_CONFIG, else ./cloudcat.yaml).")(fn)
    return _column_option(fn)


def _column_option(fn: F) -> F:
    return click.option("--column", "-c", "columns", multiple=True, metavar="COLUMN",
                        help="Show this column (repeatable): a table header or a JSON key, dotted for "
                             "nested ones (price.amount).")(fn)


def _format_option(fn: F) -> F:
    fn = click.option("--csv-raw", is_flag=True,
                      help="Write CSV cells beginning with = + - @ as read (they are prefixed with ' by "
                           "default, so that spreadsheets do not run them as formulas).")(fn)
    return click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "csv", "yaml", "value"]),
                        default=None, help="Output format (table on a terminal, else json); value: bare "
                                           "values, one row per line.")(fn)


def _split_columns(columns: Sequence[str], config: str | None) -> tuple[list[str], str | None]:
    """The columns asked for, and the configuration file, which ``-c`` names when it names a file."""
    picked: list[str] = []
    for value in columns:
        if config is None and (value.endswith((".yaml", ".yml", ".json")) or Path(value).is_file()):
            config = value
        else:
            picked.append(value)
    return picked, config


def _open(config: str | None, store: str | None) -> Any:
    from .catalog import open_catalog

    catalog = open_catalog(config or _State.config, store=store or _State.store)
    # refreshes the catalog starts itself (no snapshot yet, a stale one) show their progress too
    catalog.refresh_progress = _display()
    return catalog


def _display() -> RefreshDisplay:
    return RefreshDisplay(sys.stderr, verbose=bool(_State.verbose or _State.debug))


def _pick(columns: Sequence[tuple[str, str]], wanted: Sequence[str],
          default: Sequence[str] = (), keys: Collection[str] = ()) -> list[tuple[str, str]]:
    """The (header, key) pairs to show: those asked for by header or key, else the default ones.
    A name that is one of ``keys`` (a row's JSON keys, for the formats that write keys) is that
    key, even where a table header has the name (the offers table's "name" is the display name)."""
    if not wanted:
        return [c for c in columns if c[0] in default] if default else list(columns)
    by_name = {name: c for c in columns for name in c}
    return [(w, w) if w in keys else by_name.get(w, (w, w)) for w in wanted]


def _first_keys(rows: Any) -> tuple[Any, Collection[str]]:
    """``rows`` (a mapping, or an iterable of them, given back whole) and the keys of the first."""
    if isinstance(rows, dict):
        return rows, rows.keys()
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return rows, ()
    return itertools.chain((first,), rows), first.keys()


def _emit(rows: Any, fmt: str | None, *, columns: Sequence[tuple[str, str]] = (), wanted: Sequence[str] = (),
          default: Sequence[str] = (), raw_csv: bool = False, title: str | None = None, wrap: bool = False,
          **kwargs: Any) -> None:
    """Write rows (an iterable of JSON-ready mappings, or one mapping) in the chosen format."""
    chosen: Format = fmt or default_format()  # type: ignore[assignment]
    keys: Collection[str] = ()
    if wanted and chosen != "table":  # the formats that write keys: a row's own key wins over a header
        rows, keys = _first_keys(rows)
    shown = _pick(columns, wanted, default, keys) if columns or wanted else []
    if isinstance(rows, dict):
        if wanted:
            rows = select_columns(rows, [key for _, key in shown])
        click.echo(render(rows, chosen, raw_csv=raw_csv).rstrip("\n"))
        return
    if chosen == "table":
        rows = list(rows)
        click.echo(render_table(rows, columns=shown, title=title, wrap=wrap).rstrip("\n"))
        return
    if wanted and chosen != "value":
        rows = (select_columns(r, [key for _, key in shown]) for r in rows)
    write_rows(rows, chosen, sys.stdout, columns=shown, raw_csv=raw_csv, **kwargs)
    sys.stdout.flush()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cloudcat")
@click.option("--debug", is_flag=True, help="Tracebacks, debug logs and other libraries' warnings.")
@click.option("-v", "--verbose", count=True, help="cloudcat's own steps (backend, region, kind read).")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="Configuration file, for every subcommand (default ./cloudcat.yaml).")
@click.option("--store", "store", type=str, default=None, help="Snapshot store, for every subcommand.")
def cli(debug: bool, verbose: int, config: str | None, store: str | None) -> None:
    """cloudcat: one offer catalog in front of many clouds."""
    _State.debug = debug
    _State.verbose = verbose
    _State.config = config
    if store is not None:
        from .config import store_location_problem

        problem = store_location_problem(store)
        if problem:  # a usage error (exit 2), as a bad `store:` in the configuration is
            raise click.BadParameter(problem, param_hint="'--store'")
    _State.store = store
    _setup_logging(debug, verbose)


def _setup_logging(debug: bool, verbose: int) -> None:
    """--debug: every logger at DEBUG. -v: cloudcat's own loggers at INFO, other libraries' at
    WARNING. Otherwise warnings only."""
    from .redaction import RedactingFilter

    level = logging.DEBUG if debug else logging.WARNING
    text = "%(levelname)s %(name)s: %(message)s" if debug else "cloudcat: %(levelname)s: %(message)s"
    logging.basicConfig(level=level, format=text, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
        if not debug:
            handler.addFilter(_ours_only)
        handler.setFormatter(_Escaping(text))
    logging.getLogger("cloudcat").setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
    from .driver import quiet_driver_loggers

    # outside --debug, each driver quiets the SDK and HTTP-library loggers its class names
    quiet_driver_loggers(None if debug else logging.WARNING)


def _ours_only(record: logging.LogRecord) -> bool:
    """Outside --debug: cloudcat's and its drivers' records, and other libraries' errors only
    (their warnings, such as an HTTP pool discarding a connection, are noise to a user)."""
    return record.name.startswith("cloudcat") or record.levelno >= logging.ERROR


class _Escaping(logging.Formatter):
    """Messages with their control characters escaped: a backend's error text (a CR LF, an
    escape sequence) is shown as text and never moves the terminal's cursor."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        from .output import escape_controls

        return escape_controls(super().formatMessage(record))


@cli.command()
@_column_option
@_format_option
@_guard
def drivers(columns: Sequence[str], fmt: str | None, csv_raw: bool) -> None:
    """List installed drivers, their distribution, version and capabilities."""
    from .registry import driver_infos

    rows = [{"name": d.name, "distribution": d.distribution, "version": d.version,
             "capabilities": d.capabilities, **({"error": d.error} if d.error else {})}
            for d in driver_infos()]
    _emit(rows, fmt, wanted=columns, raw_csv=csv_raw, default=["name", "version", "kinds", "prices"],
          columns=[("name", "name"), ("distribution", "distribution"), ("version", "version"),
                   ("kinds", "capabilities.kinds"), ("zones", "capabilities.zones"),
                   ("prices", "capabilities.prices"), ("paging", "capabilities.paging"),
                   ("flexible", "capabilities.flexible_compute"), ("lifecycle", "capabilities.lifecycle")])


@cli.command()
@_listing_options
@_format_option
@_guard
def brands(config: str | None, store: str | None, columns: Sequence[str], fmt: str | None, csv_raw: bool) -> None:
    """List configured brands with operator, aliases and backends."""
    columns, config = _split_columns(columns, config)
    with _open(config, store) as catalog:
        rows = [b.model_dump(mode="json") for b in catalog.brands()]
    _emit(rows, fmt, wanted=columns, raw_csv=csv_raw, default=["name", "operator", "backends"],
          columns=[("name", "name"), ("display name", "display_name"), ("operator", "operator"),
                   ("aliases", "aliases"), ("former names", "former_names"), ("backends", "backends"),
                   ("labels", "labels")])


def _filter_option(name: str, declared: Filter) -> Callable[[F], F]:
    """The CLI option of one declared filter."""
    names = [f"--{declared.option}"] + ([f"-{declared.short}"] if declared.short else [])
    if isinstance(declared, Flag):
        return click.option(f"--{declared.option}/--no-{declared.option}", name, default=None, help=declared.help)
    if isinstance(declared, OneOf):
        allowed = declared.allowed
        kind: click.ParamType[Any] = click.Choice(allowed) if allowed else click.STRING
        complete = (lambda c, p, i: _complete_brands(c, p, i)) if name == "brand" else None
        return click.option(*names, name, multiple=True, type=kind, help=declared.help + " Repeatable.",
                            shell_complete=complete)
    if isinstance(declared, AtLeast) and declared.integer:
        return click.option(*names, name, type=_COUNT, default=None, help=declared.help)
    return click.option(*names, name, type=str, default=None, help=declared.help)


def _filter_options(fn: F) -> F:
    """One option per declared filter (:data:`cloudcat.filters.FILTERS`), in declaration order."""
    for name, declared in reversed(FILTERS.items()):
        fn = _filter_option(name, declared)(fn)
    return fn


def _given_filters(values: dict[str, Any]) -> dict[str, Any]:
    """The filters set on the command line (repeatable options given at least once)."""
    return {name: values[name] for name in FILTERS if values.get(name) not in (None, ())}


@cli.command()
@_listing_options
@_format_option
@click.option("--csv-columns", "csv_columns", type=click.Choice(["cloudcat", "focus"]), default="cloudcat",
              show_default=True, help="CSV column set: cloudcat's (reads back as a price book) or FinOps FOCUS.")
@_filter_options
@click.option("--sort", default="id", type=click.Choice(list(SORTS)))
@click.option("--limit", "-n", type=_COUNT, default=None)
@click.option("--refresh", is_flag=True, help="Read the backends first.")
@click.option("--offline", is_flag=True, help="Never touch the network; use the stored snapshot.")
@click.option("--snapshot", type=_SNAPSHOT, default=None, help="Query this snapshot instead of the latest.")
@click.option("--as-of", "as_of", type=_AsOf(), default=None,
              help="Query the snapshot that was the latest on this date (YYYY-MM-DD, end of day UTC) or at this "
                   "time.")
@_guard
def offers(config: str | None, store: str | None, columns: Sequence[str], fmt: str | None, csv_raw: bool,
           csv_columns: str, sort: SortOrder, limit: int | None, refresh: bool, offline: bool,
           snapshot: int | None, as_of: dt.datetime | dt.date | None, **filters: Any) -> None:
    """List offers, filtered and sorted (JSON, CSV and YAML are written as the offers are read)."""
    if refresh and offline:
        raise click.UsageError("--refresh and --offline exclude each other")
    if as_of is not None and (snapshot is not None or refresh):
        raise click.UsageError("--as-of excludes --snapshot and --refresh")
    if snapshot is not None and refresh:
        raise click.UsageError("--snapshot excludes --refresh (a stored snapshot is read as it was)")
    columns, config = _split_columns(columns, config)
    _check_offer_columns(columns)
    chosen = fmt or default_format()
    with _open(config, store) as catalog:
        if as_of is not None:
            snapshot = _snapshot_as_of(catalog, as_of)
        query = catalog.query(sort=sort, limit=limit, **_given_filters(filters))
        rows = (o.to_json() for o in catalog.iter_offers(query, refresh=refresh, offline=offline,
                                                          snapshot=snapshot))
        if chosen == "csv" and not columns:
            focus = csv_columns == "focus"
            _emit(rows, "csv", raw_csv=csv_raw, csv_header=FOCUS_CSV_COLUMNS if focus else OFFER_CSV_COLUMNS,
                  csv_row=focus_csv_row if focus else offer_csv_row)
        else:
            _emit(rows, chosen, columns=OFFER_ALL_COLUMNS, wanted=columns, default=OFFER_DEFAULT_COLUMNS,
                  raw_csv=csv_raw)


def _check_offer_columns(columns: Sequence[str]) -> None:
    """Refuse a column no offer has (by its first part: ``price.amount``, ``extras.anything``),
    which would otherwise show as empty on every row, as if no offer had a value."""
    names = {n for pair in OFFER_ALL_COLUMNS for n in pair} | set(Offer.model_fields) | {"sizing"}
    for column in columns:
        if column.split(".", 1)[0] not in names:
            near = difflib.get_close_matches(column, sorted(names), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise click.UsageError(f"no offer column {column!r}{hint}: the table's headers or an offer's JSON "
                                   "keys, dotted for what they hold (price.amount)")


def _snapshot_as_of(catalog: Any, when: dt.datetime | dt.date) -> int:
    """The id of the snapshot that was the latest at ``when`` (a date: the end of that day)."""
    found = catalog.store.snapshot_at(when)
    if found is None:
        by = f"{when:%Y-%m-%d %H:%M:%S}" if isinstance(when, dt.datetime) else f"the end of {when:%Y-%m-%d}"
        raise ConfigError(f"no snapshot was stored by {by} (UTC)", field="as_of")
    return int(found.id)


@cli.command()
@click.argument("offer_id", shell_complete=lambda ctx, param, incomplete: _complete_offer_ids(incomplete))
@_listing_options
@_format_option
@click.option("--refresh", is_flag=True)
@click.option("--offline", is_flag=True)
@_guard
def get(offer_id: str, config: str | None, store: str | None, columns: Sequence[str], fmt: str | None,
        csv_raw: bool, refresh: bool, offline: bool) -> None:
    """Show one offer by id (aliases and former brand names resolve)."""
    if refresh and offline:
        raise click.UsageError("--refresh and --offline exclude each other")
    columns, config = _split_columns(columns, config)
    with _open(config, store) as catalog:
        offer = catalog.get(offer_id, refresh=refresh, offline=offline)
        row = offer.to_json()
    if columns:
        row = select_columns(row, columns)
    if (fmt or default_format()) == "table":
        _emit([{"field": k, "value": v} for k, v in row.items()], "table",
              columns=[("field", "field"), ("value", "value")], title=str(row.get("id") or offer_id), wrap=True)
    else:
        _emit(row, fmt, raw_csv=csv_raw)


def _complete_offer_ids(incomplete: str) -> list[str]:
    """Offer ids of the stored snapshot beginning with ``incomplete`` (shell completion; never reads
    a backend)."""
    try:
        with _open(None, None) as catalog:
            catalog.refresh_progress = None
            query = catalog.query(sort="id", limit=200, **({"text": incomplete} if incomplete else {}))
            return [o.id for o in catalog.iter_offers(query, offline=True) if o.id.startswith(incomplete)]
    except Exception:  # completion must never print a traceback into the shell
        return []


def _complete_brands(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Brand names (and aliases) beginning with ``incomplete`` (shell completion)."""
    try:
        with _open(None, None) as catalog:
            names = [n for b in catalog.brands() for n in (b.name, *b.aliases)]
    except Exception:  # completion must never print a traceback into the shell
        return []
    return sorted(n for n in names if n.startswith(incomplete))


@cli.command()
@_config_options
@click.option("--backend", "backends", multiple=True, help="Read only these backends (repeatable).")
@click.option("--wait", "wait", type=click.FloatRange(min=0), default=None,
              help="Seconds to wait for a refresh already running on the store (default: until it ends).")
@click.option("--no-wait", "no_wait", is_flag=True,
              help="Fail at once if another refresh is running on the store.")
@_guard
def refresh(config: str | None, store: str | None, backends: Sequence[str], wait: float | None,
            no_wait: bool) -> None:
    """Read the backends and store a snapshot. Exit 0 all ok, 3 some failed, 1 nothing stored.

    One refresh runs at a time on a store; another one waits for it unless told not to."""
    if not _State.verbose and not _State.debug:
        # the progress lines below report each failure; the catalog's warning would repeat it
        logging.getLogger("cloudcat.catalog").setLevel(logging.ERROR)
    with _open(config, store) as catalog, _display() as display:
        click.echo(f"refreshing {len(backends) or len(catalog.config.backends)} backend(s)…", err=True)
        result = catalog.refresh(list(backends) or None, progress=display,
                                 wait=False if no_wait else (wait if wait is not None else True))
    if result.snapshot is not None:
        click.echo(f"snapshot {result.snapshot.id}: {result.snapshot.offers} offers "
                   f"({len(result.failed)} backend(s) failed)")
    else:
        click.echo("nothing stored: every backend failed", err=True)
    sys.exit(result.exit_code)


@cli.command()
@_config_options
@click.option("--wait", "wait", type=click.FloatRange(min=0), default=None,
              help="Seconds to wait for a refresh already running on the store (default: until it ends).")
@click.option("--no-wait", "no_wait", is_flag=True,
              help="Fail at once if a refresh is running on the store.")
@_guard
def recompose(config: str | None, store: str | None, wait: float | None, no_wait: bool) -> None:
    """Store the latest snapshot's items composed under the current brands and price books,
    without reading any backend (after a relabel or a new price book). Reads compose them on the
    fly until then, storing nothing."""
    with _open(config, store) as catalog:
        latest = catalog.store.latest()
        if latest is not None and latest.config_hash == catalog.config.fingerprint():
            click.echo(f"snapshot {latest.id} is composed under the current brands and price books: "
                       "nothing stored")
            return
        stored = catalog.recompose(wait=False if no_wait else (wait if wait is not None else True))
    click.echo(f"snapshot {stored.id}: {stored.offers} offers (recomposed, no backend read)")


@cli.group(invoke_without_command=True)
@_listing_options
@_format_option
@click.pass_context
@_guard
def snapshots(ctx: click.Context, config: str | None, store: str | None, columns: Sequence[str],
              fmt: str | None, csv_raw: bool) -> None:
    """List stored snapshots (``snapshots prune`` removes old ones)."""
    if ctx.invoked_subcommand is not None:
        return
    columns, config = _split_columns(columns, config)
    with _open(config, store) as catalog:
        rows = []
        for s in catalog.snapshots():
            row = s.model_dump(mode="json")
            row["status"] = ", ".join(f"{b.backend}:{b.status}" for b in s.backends)
            rows.append(row)
    if (fmt or default_format()) == "table":
        for row in rows:
            row["created_at"] = row["created_at"][:19].replace("T", " ")
    _emit(rows, fmt, wanted=columns, raw_csv=csv_raw,
          columns=[("id", "id"), ("created", "created_at"), ("offers", "offers"), ("backends", "status")])


@snapshots.command("prune")
@click.option("--keep-last", type=_COUNT, default=None, help="Keep the N newest snapshots.")
@click.option("--keep-daily", type=_COUNT, default=None,
              help="Keep the newest snapshot of each of the D most recent days that have one.")
@click.option("--keep-monthly", type=_COUNT, default=None,
              help="Keep the newest snapshot of each of the M most recent months that have one.")
@_config_options
@_guard
def snapshots_prune(keep_last: int | None, keep_daily: int | None, keep_monthly: int | None, config: str | None,
                    store: str | None) -> None:
    """Remove the snapshots the policy does not keep (never the latest), and what only they held.

    The policy is the options given, else the configuration's ``retention``; with neither,
    nothing is removed (exit 2)."""
    with _open(config, store) as catalog:
        if (keep_last, keep_daily, keep_monthly) == (None, None, None):
            retention = catalog.config.retention
            if retention is None:
                raise click.UsageError("no retention policy: give --keep-last, --keep-daily or --keep-monthly, "
                                       "or set `retention` in the configuration (nothing removed)")
            keep_last, keep_daily, keep_monthly = retention.keep_last, retention.keep_daily, retention.keep_monthly
        removed = catalog.store.prune(keep_last=keep_last or 0, keep_daily=keep_daily or 0,
                                      keep_monthly=keep_monthly or 0)
    click.echo(f"removed {len(removed)} snapshot(s)" + (f": {', '.join(map(str, removed))}" if removed else ""))


@cli.command()
@click.argument("a", type=_SNAPSHOT, required=False)
@click.argument("b", type=_SNAPSHOT, required=False)
@click.option("--last", is_flag=True, help="Compare the two latest snapshots (instead of A and B).")
@click.option("--exit-code", is_flag=True, help="Exit 1 when something changed, 0 when nothing did.")
@_config_options
@_format_option
@_guard
def diff(a: int | None, b: int | None, last: bool, exit_code: bool, config: str | None, store: str | None,
         fmt: str | None, csv_raw: bool) -> None:
    """What changed between snapshots A and B (or the two latest with --last): offers added and
    removed, and every changed field (price, lifecycle, labels, names, operator, specs, zones…)."""
    if last == (a is not None and b is not None) or (a is None) != (b is None):
        raise click.UsageError("give two snapshot ids A B, or --last")
    with _open(config, store) as catalog:
        if last:
            ids = [s.id for s in catalog.snapshots()][-2:]
            if len(ids) < 2:
                raise CloudcatError("--last needs two stored snapshots")
            a, b = ids
        assert a is not None and b is not None
        d = catalog.diff(a, b)
    _emit_diff(d, a, b, fmt, csv_raw)
    if exit_code and not d.empty:
        sys.exit(1)


def _emit_diff(d: Any, a: int, b: int, fmt: str | None, csv_raw: bool = False) -> None:
    chosen = fmt or default_format()
    if chosen in ("table", "csv", "value"):
        def price(p: Any) -> str:
            return f"{p.amount} {p.currency}/{p.unit}" if p is not None else "unknown"

        rows: list[dict[str, Any]] = [{"change": "added", "id": i, "before": "", "after": ""} for i in d.added]
        rows += [{"change": "removed", "id": i, "before": "", "after": ""} for i in d.removed]
        rows += [{"change": "price", "id": c.id, "before": price(c.before), "after": price(c.after)}
                 for c in d.price_changes]
        rows += [{"change": "lifecycle", "id": c.id, "before": c.before.value, "after": c.after.value}
                 for c in d.lifecycle_changes]
        rows += [{"change": c.field, "id": c.id, "before": _json_cell(c.before), "after": _json_cell(c.after)}
                 for c in d.changed if c.field not in ("price", "lifecycle")]
        if chosen != "table":
            _emit(rows, chosen, raw_csv=csv_raw, columns=[("change", "change"), ("id", "id"),
                                                          ("before", "before"), ("after", "after")])
        elif not rows:
            click.echo(f"snapshot {a} → {b}: no change")
        else:
            _emit(rows, "table", columns=[("id", "id"), ("change", "change"), ("before", "before"),
                                          ("after", "after")], title=f"snapshot {a} → {b}")
    else:
        _emit(d.model_dump(mode="json"), fmt)


def _json_cell(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@cli.command()
@click.option("--from", "source", required=True, shell_complete=_complete_brands,
              help="Source brand (or alias, former name) or backend.")
@click.option("--to", "target", required=True, shell_complete=_complete_brands, help="Target brand or backend.")
@click.option("--inventory", "-i", type=click.Path(dir_okay=False), default=None,
              help="CSV/JSON of offers in use (item, offer, quantity, hours_per_month); default: every offer.")
@click.option("--require-label", "labels", multiple=True, help="Label every target must carry (repeatable).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default=None)
@click.option("--csv-raw", is_flag=True, help="Write CSV cells beginning with = + - @ as read.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write to this file.")
@click.option("--refresh", is_flag=True)
@click.option("--offline", is_flag=True)
@_config_options
@_guard
def plan(source: str, target: str, inventory: str | None, labels: Sequence[str], fmt: str | None, csv_raw: bool,
         output: str | None, refresh: bool, offline: bool, config: str | None, store: str | None) -> None:
    """Plan a migration: the replacement of each offer in use, the monthly price difference, the gaps."""
    if refresh and offline:
        raise click.UsageError("--refresh and --offline exclude each other")
    if fmt is None and output:
        fmt = {".html": "html", ".htm": "html", ".json": "json", ".csv": "csv"}.get(Path(output).suffix.lower())
    with _open(config, store) as catalog:
        result = catalog.plan_migration(source, target, inventory, require_labels=list(labels),
                                        refresh=refresh, offline=offline)
        provenance = _provenance(catalog) if (fmt or default_format()) == "html" else None
    chosen = fmt or default_format()
    if output:
        try:
            with open(output, "w", encoding="utf-8") as out:
                _write_plan(result, chosen, out, csv_raw, provenance)
        except OSError as exc:
            raise click.BadParameter(f"cannot write {output}: {exc.strerror or exc}", param_hint="--output") from None
        click.echo(f"wrote {output}", err=True)
    else:
        _write_plan(result, chosen, sys.stdout, csv_raw, provenance)
        sys.stdout.flush()


def _write_plan(result: Any, chosen: str, out: Any, csv_raw: bool, provenance: Any) -> None:
    """A plan in the chosen format, JSON and CSV written line by line."""
    if chosen == "html":
        from .report import render_html

        out.write(render_html(result, provenance=provenance))
    elif chosen == "json":
        for chunk in result.json_chunks():
            out.write(chunk)
    elif chosen == "csv":
        write_rows(result.iter_rows(), "csv", out, raw_csv=csv_raw, csv_header=result.row_keys())
    else:
        from .report import render_text

        out.write(render_text(result).rstrip("\n") + "\n")


def _provenance(catalog: Any) -> Any:
    """Which snapshot a plan read, when its backends were read, and the price books in use."""
    from .report import Provenance

    latest = catalog.store.latest()
    return Provenance(
        snapshot=latest.id if latest is not None else None,
        snapshot_created=latest.created_at if latest is not None else None,
        read_at={b.backend: b.read_at for b in latest.backends} if latest is not None else {},
        price_books=[str(ref.path) for ref in catalog.config.price_books])


@cli.command()
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False), default="cloudcat.yaml",
              show_default=True, help="Configuration file to write.")
@click.option("--clouds", "clouds", type=click.Path(dir_okay=False), default=None,
              help="clouds.yaml to read (default: where OpenStack clients look for it).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@_guard
def init(output: str, clouds: str | None, force: bool) -> None:
    """Write a starting cloudcat.yaml: one openstack backend and one brand per clouds.yaml entry."""
    from .init import write_starter_config

    written, names = write_starter_config(output, force=force, clouds_yaml=clouds)
    click.echo(f"wrote {written} ({len(names)} cloud(s): {', '.join(names)})")


@cli.command()
@click.option("--model", type=click.Choice(["offer", "item", "brand", "config", "price-rule", "query"]), default=None,
              help="One model; default: all, by name.")
@_guard
def schema(model: str | None) -> None:
    """Print the JSON Schema of the models."""
    from .config import Config
    from .filters import filters_schema
    from .models import Brand, Item, Offer
    from .prices import PriceRule

    models: dict[str, Any] = {"offer": Offer, "item": Item, "brand": Brand, "config": Config,
                              "price-rule": PriceRule}
    if model == "query":
        out: Any = filters_schema()
    elif model:
        out = models[model].model_json_schema()
    else:
        out = {name: m.model_json_schema() for name, m in models.items()} | {"query": filters_schema()}
    click.echo(json.dumps(out, indent=2))


@cli.command()
@click.option("--keep", is_flag=True, help="Keep the mocks running until Ctrl-C after the stories.")
@click.option("--store", default=None, help="Store for the demo (default: a temporary file).")
@_guard
def demo(keep: bool, store: str | None) -> None:
    """Run the bundled stories on mocked clouds: no credentials, no network beyond loopback."""
    from .demo import run_demo

    sys.exit(run_demo(echo=click.echo, store=store, keep=keep))


@cli.group()
def mock() -> None:
    """Mocked cloud endpoints for integration tests."""


@mock.command("list")
def mock_list() -> None:
    """List installed mock platforms."""
    from .registry import mock_names

    for name in mock_names():
        click.echo(name)


@mock.command("serve")
@click.argument("platform")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0 picks a free port.")
@click.option("--fixture", default=None, help="Fixture file, or the name of a bundled fixture.")
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0)
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction answered 503.")
@click.option("--throttle-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction answered 429.")
@click.option("--malformed-rate", type=click.FloatRange(0, 1), default=0.0)
@click.option("--page-limit", type=click.IntRange(min=1), default=None)
@click.option("--token-ttl", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--regions", type=click.IntRange(min=1), default=None, help="Serve N regions.")
@click.option("--seed", type=int, default=None)
@click.option("--retry-after", type=click.IntRange(min=0), default=1, show_default=True,
              help="Retry-After seconds of the 429s of --throttle-rate.")
@click.option("--fault", "fault_plan", multiple=True, metavar="RULE",
              help="A fault plan rule, repeatable: '[METHOD] PATH ACTION [xN|always] [key=value ...]', e.g. "
                   "'GET /compute/v2.1/flavors/detail 429 x2 retry-after=1', 'POST /v3/auth/tokens reset', "
                   "'/api/query hang hang-s=5'. ACTION: a status, reset, hang, trickle or malformed (docs/mocks.md).")
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback address.")
@_guard
def mock_serve(platform: str, host: str, port: int, fixture: str | None, latency_ms: float,
               error_rate: float, throttle_rate: float, malformed_rate: float, page_limit: int | None,
               token_ttl: float | None, regions: int | None, seed: int | None, retry_after: int,
               fault_plan: tuple[str, ...], allow_remote: bool) -> None:
    """Serve a mocked PLATFORM until SIGINT/SIGTERM. The first stdout line is one JSON object
    with `url` and `backend` (a ready backend entry for cloudcat's config). Faults change while
    serving through the control endpoints under `/_cloudcat/` (docs/mocks.md)."""
    from .testing.faults import parse_rule
    from .testing.mockserver import start_mock

    rules = []
    for text in fault_plan:
        try:
            rules.append(parse_rule(text))
        except ValueError as exc:
            raise ConfigError(str(exc), field="--fault") from None

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        handle = start_mock(platform, fixture, host=host, port=port, regions=regions, allow_remote=allow_remote,
                            latency_ms=latency_ms, error_rate=error_rate, throttle_rate=throttle_rate,
                            malformed_rate=malformed_rate, page_limit=page_limit, token_ttl=token_ttl, seed=seed,
                            retry_after=retry_after, fault_plan=rules)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}", field="--host/--port") from None
    try:
        click.echo(json.dumps(handle.first_line()))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        handle.stop()
    sys.exit(0)


def _mount_optional() -> None:
    """Mount command groups that live in their own modules."""
    try:
        from .cli_plugin import plugin
    except ImportError:  # module not present in this build
        return
    cli.add_command(plugin)


_mount_optional()


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    if sys.stdout is None:  # started with its standard output closed (`cloudcat … >&-`)
        _fail("standard output is closed", 1)
    try:
        try:
            code = cli.main(args=list(argv) if argv is not None else None, prog_name="cloudcat",
                            standalone_mode=False)
        except click.exceptions.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                raise exc.__cause__ from None
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        # what click returns: an exit code (--help, --version); commands exit by themselves
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:
        # Do not wait for backend calls in flight (up to their timeout): a refresh writes its snapshot
        # in one transaction, so stopping here leaves the store as it was.
        click.echo("cloudcat: interrupted", err=True)
        sys.stderr.flush()
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        os._exit(130)
    except BrokenPipeError:
        # the reader stopped reading (`cloudcat offers | head -1`): what it wanted was written
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])

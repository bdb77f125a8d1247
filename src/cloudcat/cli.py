"""The ``cloudcat`` command.

Exit status: 0 success; 1 failure (nothing could be read or stored); 2 usage or configuration
error; 3 some backends failed but the others were stored. Errors are one line on stderr; the
global ``--debug`` flag (before the subcommand) shows tracebacks and debug logs, ``-v`` progress
and info logs.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from . import __version__
from .errors import CloudcatError, ConfigError, DriverError, NotSupportedError, OfferNotFoundError
from .filters import FILTERS, AtLeast, Filter, Flag, OneOf
from .output import Format, default_format, render
from .query import SORTS, SortOrder

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

OFFER_COLUMNS = [("id", "id"), ("name", "display_name"), ("vCPU", "vcpus"), ("MiB", "memory_mib"),
                 ("price", "price.amount"), ("cur", "price.currency"), ("unit", "price.unit"),
                 ("zones", "zones"), ("labels", "labels"), ("lifecycle", "lifecycle.status"),
                 ("operator", "operator")]


class _State:
    debug = False
    verbose = 0


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
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
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

    if issubclass(category, (BrandNameDeprecation, OfferLifecycleWarning)) or _State.verbose or _State.debug:
        click.echo(f"cloudcat: notice: {message}", err=True)


def _config_options(fn: F) -> F:
    fn = click.option("--store", "store", type=str, default=None,
                      help="Snapshot store: SQLite file or database URL (overrides the config).")(fn)
    fn = click.option("--config", "-c", "config", type=click.Path(dir_okay=False), default=None,
                      envvar="CLOUDCAT_CONFIG", help="Configuration file (default ./cloudcat.yaml).")(fn)
    return fn


def _format_option(fn: F) -> F:
    return click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "csv", "yaml"]),
                        default=None, help="Output format (table on a terminal, else json).")(fn)


def _open(config: str | None, store: str | None) -> Any:
    from .catalog import open_catalog

    return open_catalog(config, store=store)


def _emit(rows: Any, fmt: str | None, **kwargs: Any) -> None:
    chosen: Format = fmt or default_format()  # type: ignore[assignment]
    click.echo(render(rows, chosen, **kwargs).rstrip("\n"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cloudcat")
@click.option("--debug", is_flag=True, help="Tracebacks and debug logs.")
@click.option("-v", "--verbose", count=True, help="Progress and info logs.")
def cli(debug: bool, verbose: int) -> None:
    """cloudcat: one offer catalog in front of many clouds."""
    _State.debug = debug
    _State.verbose = verbose
    level = logging.DEBUG if debug else (logging.INFO if verbose else logging.WARNING)
    from .redaction import RedactingFilter

    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    from .driver import quiet_driver_loggers

    # outside --debug, each driver quiets the SDK and HTTP-library loggers its class names
    quiet_driver_loggers(None if debug else level)


@cli.command()
@_format_option
@_guard
def drivers(fmt: str | None) -> None:
    """List installed drivers, their distribution, version and capabilities."""
    from .registry import driver_infos

    rows = [{"name": d.name, "distribution": d.distribution, "version": d.version,
             "capabilities": d.capabilities, **({"error": d.error} if d.error else {})}
            for d in driver_infos()]
    _emit(rows, fmt, columns=[("name", "name"), ("distribution", "distribution"), ("version", "version"),
                              ("kinds", "capabilities.kinds"), ("zones", "capabilities.zones"),
                              ("prices", "capabilities.prices"), ("paging", "capabilities.paging"),
                              ("flexible", "capabilities.flexible_compute"),
                              ("lifecycle", "capabilities.lifecycle")])


@cli.command()
@_config_options
@_format_option
@_guard
def brands(config: str | None, store: str | None, fmt: str | None) -> None:
    """List configured brands with operator, aliases and backends."""
    with _open(config, store) as catalog:
        rows = [b.model_dump(mode="json") for b in catalog.brands()]
    _emit(rows, fmt, columns=[("name", "name"), ("display name", "display_name"), ("operator", "operator"),
                              ("aliases", "aliases"), ("former names", "former_names"),
                              ("backends", "backends"), ("labels", "labels")])


def _filter_option(name: str, declared: Filter) -> Callable[[F], F]:
    """The CLI option of one declared filter."""
    names = [f"--{declared.option}"] + ([f"-{declared.short}"] if declared.short else [])
    if isinstance(declared, Flag):
        return click.option(f"--{declared.option}/--no-{declared.option}", name, default=None, help=declared.help)
    if isinstance(declared, OneOf):
        allowed = declared.allowed
        kind: click.ParamType[Any] = click.Choice(allowed) if allowed else click.STRING
        return click.option(*names, name, multiple=True, type=kind, help=declared.help + " Repeatable.")
    if isinstance(declared, AtLeast) and declared.integer:
        return click.option(*names, name, type=click.IntRange(min=0), default=None, help=declared.help)
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
@_config_options
@_format_option
@_filter_options
@click.option("--sort", default="id", type=click.Choice(list(SORTS)))
@click.option("--limit", "-n", type=click.IntRange(min=0), default=None)
@click.option("--refresh", is_flag=True, help="Read the backends first.")
@click.option("--offline", is_flag=True, help="Never touch the network; use the stored snapshot.")
@click.option("--snapshot", type=int, default=None, help="Query this snapshot instead of the latest.")
@_guard
def offers(config: str | None, store: str | None, fmt: str | None, sort: SortOrder, limit: int | None,
           refresh: bool, offline: bool, snapshot: int | None, **filters: Any) -> None:
    """List offers, filtered and sorted."""
    if refresh and offline:
        raise click.UsageError("--refresh and --offline exclude each other")
    with _open(config, store) as catalog:
        query = catalog.query(sort=sort, limit=limit, **_given_filters(filters))
        found = catalog.offers(query, refresh=refresh, offline=offline, snapshot=snapshot)
        rows = [o.to_json() for o in found]
    _emit(rows, fmt, columns=OFFER_COLUMNS)


@cli.command()
@click.argument("offer_id")
@_config_options
@_format_option
@click.option("--refresh", is_flag=True)
@click.option("--offline", is_flag=True)
@_guard
def get(offer_id: str, config: str | None, store: str | None, fmt: str | None, refresh: bool,
        offline: bool) -> None:
    """Show one offer by id (aliases and former brand names resolve)."""
    if refresh and offline:
        raise click.UsageError("--refresh and --offline exclude each other")
    with _open(config, store) as catalog:
        offer = catalog.get(offer_id, refresh=refresh, offline=offline)
        row = offer.to_json()
    if (fmt or default_format()) == "table":
        _emit([{"field": k, "value": v} for k, v in row.items()], "table",
              columns=[("field", "field"), ("value", "value")], title=row["id"])
    else:
        _emit(row, fmt)


@cli.command()
@_config_options
@click.option("--backend", "backends", multiple=True, help="Read only these backends (repeatable).")
@_guard
def refresh(config: str | None, store: str | None, backends: Sequence[str]) -> None:
    """Read the backends and store a snapshot. Exit 0 all ok, 3 some failed, 1 nothing stored."""
    from .models import BackendStatus

    def progress(status: BackendStatus) -> None:
        if status.status == "ok":
            click.echo(f"  {status.backend:<24} ok      {status.items:>6} items  {status.seconds:6.2f}s", err=True)
        else:
            click.echo(f"  {status.backend:<24} FAILED  {status.error}", err=True)

    if not _State.verbose and not _State.debug:
        # the progress lines below report each failure; the catalog's warning would repeat it
        logging.getLogger("cloudcat.catalog").setLevel(logging.ERROR)
    with _open(config, store) as catalog:
        click.echo(f"refreshing {len(backends) or len(catalog.config.backends)} backend(s)…", err=True)
        result = catalog.refresh(list(backends) or None, progress=progress)
    if result.snapshot is not None:
        click.echo(f"snapshot {result.snapshot.id}: {result.snapshot.offers} offers "
                   f"({len(result.failed)} backend(s) failed)")
    else:
        click.echo("nothing stored: every backend failed", err=True)
    sys.exit(result.exit_code)


@cli.group(invoke_without_command=True)
@_config_options
@_format_option
@click.pass_context
@_guard
def snapshots(ctx: click.Context, config: str | None, store: str | None, fmt: str | None) -> None:
    """List stored snapshots (``snapshots prune`` removes old ones)."""
    if ctx.invoked_subcommand is not None:
        return
    with _open(config, store) as catalog:
        rows = []
        for s in catalog.snapshots():
            row = s.model_dump(mode="json")
            row["status"] = ", ".join(f"{b.backend}:{b.status}" for b in s.backends)
            rows.append(row)
    _emit(rows, fmt, columns=[("id", "id"), ("created", "created_at"), ("offers", "offers"),
                              ("backends", "status")])


@snapshots.command("prune")
@click.option("--keep-last", type=click.IntRange(min=0), default=0, help="Keep the N newest snapshots.")
@click.option("--keep-daily", type=click.IntRange(min=0), default=0,
              help="Keep the newest snapshot of each of the D most recent days that have one.")
@click.option("--keep-monthly", type=click.IntRange(min=0), default=0,
              help="Keep the newest snapshot of each of the M most recent months that have one.")
@_config_options
@_guard
def snapshots_prune(keep_last: int, keep_daily: int, keep_monthly: int, config: str | None,
                    store: str | None) -> None:
    """Remove the snapshots the policy does not keep (never the latest), and what only they held."""
    with _open(config, store) as catalog:
        removed = catalog.store.prune(keep_last=keep_last, keep_daily=keep_daily, keep_monthly=keep_monthly)
    click.echo(f"removed {len(removed)} snapshot(s)" + (f": {', '.join(map(str, removed))}" if removed else ""))


@cli.command()
@click.argument("a", type=int, required=False)
@click.argument("b", type=int, required=False)
@click.option("--last", is_flag=True, help="Compare the two latest snapshots (instead of A and B).")
@click.option("--exit-code", is_flag=True, help="Exit 1 when something changed, 0 when nothing did.")
@_config_options
@_format_option
@_guard
def diff(a: int | None, b: int | None, last: bool, exit_code: bool, config: str | None, store: str | None,
         fmt: str | None) -> None:
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
    _emit_diff(d, a, b, fmt)
    if exit_code and not d.empty:
        sys.exit(1)


def _emit_diff(d: Any, a: int, b: int, fmt: str | None) -> None:
    chosen = fmt or default_format()
    if chosen in ("table", "csv"):
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
        if chosen == "csv":
            _emit(rows, "csv")
        elif not rows:
            click.echo(f"snapshot {a} → {b}: no change")
        else:
            _emit(rows, "table", columns=[("change", "change"), ("id", "id"), ("before", "before"),
                                          ("after", "after")], title=f"snapshot {a} → {b}")
    else:
        _emit(d.model_dump(mode="json"), fmt)


def _json_cell(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@cli.command()
@click.option("--from", "source", required=True, help="Source brand (or alias, former name) or backend.")
@click.option("--to", "target", required=True, help="Target brand or backend.")
@click.option("--inventory", "-i", type=click.Path(dir_okay=False), default=None,
              help="CSV/JSON of offers in use (item, offer, quantity, hours_per_month); default: every offer.")
@click.option("--require-label", "labels", multiple=True, help="Label every target must carry (repeatable).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default=None)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write to this file.")
@click.option("--refresh", is_flag=True)
@click.option("--offline", is_flag=True)
@_config_options
@_guard
def plan(source: str, target: str, inventory: str | None, labels: Sequence[str], fmt: str | None,
         output: str | None, refresh: bool, offline: bool, config: str | None, store: str | None) -> None:
    """Plan a migration: the replacement of each offer in use, the monthly price difference, the gaps."""
    if refresh and offline:
        raise click.UsageError("--refresh and --offline exclude each other")
    if fmt is None and output:
        fmt = {".html": "html", ".htm": "html", ".json": "json", ".csv": "csv"}.get(Path(output).suffix.lower())
    with _open(config, store) as catalog:
        result = catalog.plan_migration(source, target, inventory, require_labels=list(labels),
                                        refresh=refresh, offline=offline)
    chosen = fmt or default_format()
    if chosen == "html":
        from .report import render_html

        text = render_html(result)
    elif chosen == "json":
        text = json.dumps(result.to_json(), indent=2)
    elif chosen == "csv":
        text = render(result.rows(), "csv")
    else:
        from .report import render_text

        text = render_text(result)
    if output:
        try:
            Path(output).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot write {output}: {exc.strerror or exc}", param_hint="--output") from None
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text.rstrip("\n"))


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
                   "'/api/query hang hang-s=5'. ACTION: a status, reset, hang or malformed (docs/mocks.md).")
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
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="cloudcat", standalone_mode=True)
    except KeyboardInterrupt:
        # Do not wait for backend calls in flight (up to their timeout): a refresh writes its snapshot
        # in one transaction, so stopping here leaves the store as it was.
        click.echo("cloudcat: interrupted", err=True)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(130)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])

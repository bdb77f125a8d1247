"""``cloudcat plugin``: tools for driver authors.

::

    cloudcat plugin new acme [--dest DIR] [--with-mock/--no-mock]
"""

from __future__ import annotations

from pathlib import Path

import click

from .errors import ConfigError

__all__ = ["plugin"]


@click.group()
def plugin() -> None:
    """Tools for writing a driver package."""


@plugin.command("new")
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder in which to create cloudcat-NAME/.")
@click.option("--with-mock/--no-mock", default=True, show_default=True,
              help="Ship the mocked API in the package (cloudcat.mocks entry point), or keep it in tests/.")
def new(name: str, dest: Path, with_mock: bool) -> None:
    """Create cloudcat-NAME/: a driver package wired to the conformance kit."""
    from .scaffold import new_plugin

    try:
        root = new_plugin(name, dest, with_mock=with_mock)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"created {root}")
    click.echo("next:")
    click.echo(f"  pip install -e '{root}[test]'")
    click.echo("  cloudcat drivers")
    click.echo(f"  pytest {root / 'tests'}")

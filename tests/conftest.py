"""Fixtures shared by test modules: the snapshot store's backends (see ``store_backends``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from store_backends import BACKENDS, factory, postgres_server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the session (started on first use)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """Each snapshot store backend in turn: the store contract tests run against all."""
    return str(request.param)


@pytest.fixture(scope="session")
def new_store_location(store_backend: str, request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> Callable[[], str]:
    """Makes the location of a new, empty store of the backend under test."""
    server = str(request.getfixturevalue("postgres_url")) if store_backend == "postgresql" else ""
    return factory(store_backend, lambda: server, Path(tmp_path_factory.mktemp("stores")))


#: What the suite needs beyond PyPI, with the Debian package that brings it.
SYSTEM_TOOLS = {"chromium": "chromium", "tmux": "tmux", "initdb": "postgresql", "pg_ctl": "postgresql",
                "setpriv": "util-linux"}


def missing_system_tools() -> dict[str, str]:
    """Tools the tests start (the HTML report's browser, the terminal, a throwaway PostgreSQL) that are
    not on this machine, with the package to install."""
    import glob
    import shutil

    def found(tool: str) -> bool:
        return bool(shutil.which(tool) or glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))

    return {tool: package for tool, package in SYSTEM_TOOLS.items() if not found(tool)}


def pytest_sessionstart(session: pytest.Session) -> None:
    # Say what to install before any test runs, rather than failing tests one by one.
    missing = missing_system_tools()
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        pytest.exit(f"the tests need {', '.join(sorted(missing))} (not on PyPI); install them first:\n"
                    f"    sudo apt-get install -y {packages}        # Debian/Ubuntu", returncode=4)

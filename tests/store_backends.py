"""The snapshot store's backends for the contract tests: SQLite files, and a throwaway
PostgreSQL server started once per test session (``initdb`` + ``pg_ctl`` from the system's
PostgreSQL, on a loopback port), one fresh schema per store."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from cloudcat.store import Store

BACKENDS = ["sqlite", "postgresql"]


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql): the store "
                           "contract tests run against a throwaway PostgreSQL server")
    return candidates[-1]


def _collating_as_people_read() -> list[str]:
    """``initdb`` options for a database collating as people read (ICU, en-US: "a" < "B"), as a
    team's server may, where the store must still sort and compare as SQLite and Python do (code
    point order). ICU is chosen so from PostgreSQL 15 on (Debian's since bookworm); an older
    server keeps the machine's locale."""
    version = subprocess.run([_pg_bin("initdb"), "--version"], capture_output=True, text=True).stdout
    major = re.search(r"\d+", version)
    return ["--locale-provider=icu", "--icu-locale=en-US"] if major and int(major.group()) >= 15 else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server in a temporary directory, trusting local connections; yields the URL
    of its ``postgres`` database. Run as root, the server runs as the ``postgres`` user."""
    root = Path(tempfile.mkdtemp(prefix="cloudcat-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    try:
        subprocess.run([*as_user, _pg_bin("initdb"), "-D", str(data), "-U", "cloudcat", "--auth=trust",
                        "-E", "UTF8", "--no-sync", *_collating_as_people_read()], check=True, capture_output=True)
        subprocess.run([*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                        "-o", f"-k {root} -h 127.0.0.1 -p {port} -c fsync=off -c max_connections=200",
                        "start"], check=True, capture_output=True)
        try:
            yield f"postgresql://cloudcat@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


_schemas = itertools.count()


def fresh_postgres(url: str) -> str:
    """The URL of a new, empty schema on the server at ``url``."""
    import psycopg

    name = f"t{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{url}?options=-csearch_path%3D{name}"


def factory(backend: str, server: Callable[[], str], directory: Path) -> Callable[[], str]:
    """Locations of new, empty stores of one backend."""
    counter = itertools.count()
    if backend == "sqlite":
        return lambda: str(directory / f"store-{next(counter)}.db")
    return lambda: fresh_postgres(server())


def open_store(location: str) -> Store:
    return Store(location)

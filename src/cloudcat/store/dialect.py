"""What differs between the SQL of the store's backends: a few functions, hints and statements.

The store writes its SQL once, in the SQLite spelling with ``?`` parameters (the spelling the
filters compile to, see :meth:`cloudcat.filters.Filter.sql`); a :class:`Dialect` supplies the
few expressions that differ, and the PostgreSQL connection turns ``?`` into ``%s``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, cast

__all__ = ["POSTGRES", "SQLITE", "Dialect", "int_array"]


def int_array(values: Sequence[int]) -> str:
    """An array literal of integers (``{1,2,3}``) for a ``BIGINT[]`` parameter."""
    return "{" + ",".join(map(str, values)) + "}"


@dataclasses.dataclass(frozen=True)
class Dialect:
    """SQL spellings of one backend."""

    name: str
    #: ``json_patch(target, patch)`` (RFC 7396) under this backend's name for it.
    patch_function: str
    #: function ``(doc, read_at)``: ``doc`` with its ``read_at`` set.
    read_at_function: str
    #: schema of temporary tables.
    temp: str
    #: prefix that keeps the planner from using an index for a term (SQLite's unary ``+``).
    no_index: str
    #: LIMIT parameter meaning "no limit".
    no_limit: int | None
    #: whether ``INDEXED BY`` hints are understood.
    index_hints: bool
    #: statements that start a snapshot's write transaction (writers exclude each other,
    #: readers never wait).
    begin_write: tuple[str, ...]
    #: type of a temporary table's primary key column.
    pk_type: str
    #: whether reads merge patches in SQL (else the versions' parts are merged in Python).
    patch_in_sql: bool = True
    #: whether a list of values goes as one array parameter rather than one ``?`` a value.
    array_params: bool = False
    #: whether many rows are inserted with COPY (the connection's ``copy_rows``).
    bulk_copy: bool = False

    def patch(self, target: str, patch: str) -> str:
        """SQL: ``patch`` merged onto ``target`` (both JSON text)."""
        return f"{self.patch_function}({target}, {patch})"

    def in_list(self, column: str, values: Sequence[str] | Sequence[int]) -> tuple[str, list[Any]]:
        """SQL: ``column`` (text, or integers) is one of ``values``; and its parameters.

        On a server the list is one parameter, so the statement's text stays the same whatever
        the count (its client caches short statements only, and would parse one of thousands of
        ``?`` again at every call), written as JSON (text) or an array literal (integers) in one
        call rather than element by element by the client's array adapter."""
        if not self.array_params:
            return f"{column} IN ({', '.join('?' * len(values))})", list(values)
        if values and isinstance(values[0], int):
            return f"{column} = ANY(CAST(? AS BIGINT[]))", [int_array(cast(Sequence[int], values))]
        return f"{column} = ANY(ARRAY(SELECT json_array_elements_text(CAST(? AS json))))", [json.dumps(values)]

    def with_read_at(self, doc: str, read_at: str) -> str:
        """SQL: the JSON ``doc`` with its ``read_at`` set to the text ``read_at``."""
        if self.read_at_function == "json_set":
            return f"json_set({doc}, '$.read_at', {read_at})"
        return f"{self.read_at_function}({doc}, {read_at})"


SQLITE = Dialect(name="sqlite", patch_function="json_patch", read_at_function="json_set", temp="temp.",
                 no_index="+", no_limit=-1, index_hints=True, begin_write=("BEGIN IMMEDIATE",),
                 pk_type="INTEGER")
POSTGRES = Dialect(name="postgresql", patch_function="cc_json_patch", read_at_function="cc_with_read_at",
                   temp="pg_temp.", no_index="", no_limit=None, index_hints=False,
                   begin_write=("BEGIN", "LOCK TABLE snapshots IN EXCLUSIVE MODE"), pk_type="BIGINT",
                   patch_in_sql=False, array_params=True, bulk_copy=True)

"""The privacy audit: no table of the warehouse keeps an identifier the pipeline promised to drop.

Every string leaf of every table is scanned (nested records, lists, JSON text and
additional_properties included), and the error tables' payloads too, gunzipped. What counts as
an identifier: an IPv4 or IPv6 address (X-Forwarded-For values are lists of them), an e-mail
address (addresses.py: the log policies' rule), and a raw browser User-Agent string. Columns
where such a shape is legitimate are allowed by name, each with its reason (ALLOWED); a finding
anywhere else fails the audit.

The scan of one text (`identifiers`) and of one row (`Findings.add_row`) are pure; `audit` reads
a DuckDB connection.
"""

from __future__ import annotations

import fnmatch
import gzip
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import duckdb

from pingpipe.schemas.names import family_of

from . import evidence
from .addresses import addresses
from .shred import DELETION_REQUEST

# column path pattern (fnmatch, on "table.column.path") -> why values there may look like an identifier
ALLOWED: dict[str, str] = {
    "*version*": "version numbers (a.b.c.d) have the shape of an IPv4 address",
    "*app_build*": "build numbers can have the shape of an IPv4 address",
    "*build_id*": "build ids can have the shape of an IPv4 address",
    "*addon*": "add-on ids have the shape of an e-mail address (uBlock0@raymondhill.net)",
}
_USER_AGENT = re.compile(r"Mozilla/[0-9]+\.[0-9]+ \(|\b(?:AppleWebKit|Gecko|Chrome|Safari|Firefox|Edg|OPR)/[0-9]+(?:\.[0-9]+)+")
_MAX_PAYLOAD = 8 * 1024 * 1024  # an error payload is read up to this many bytes inflated


def identifiers(text: str) -> list[str]:
    """The IP and e-mail addresses and raw user agents in a text."""
    found = addresses(text)
    if "/" in text:
        found += [m.group() for m in _USER_AGENT.finditer(text)]
    return found


def allowed(path: str) -> str | None:
    """The reason values at this column path may look like identifiers, if they may."""
    for pattern, reason in ALLOWED.items():
        if fnmatch.fnmatchcase(path, pattern):
            return reason
    return None


def payload_text(data: bytes) -> str:
    """An error row's payload as text: gunzipped if it is gzip (bounded), undecodable bytes replaced."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompressobj(wbits=31).decompress(data, _MAX_PAYLOAD)
        except (zlib.error, gzip.BadGzipFile):
            pass
    return data.decode("utf-8", "replace")


def leaves(value, path: str):
    """(column path, text) for every string (and bytes) leaf of a value: records, lists, maps."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        yield path, payload_text(bytes(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from leaves(item, path)


@dataclass
class Findings:
    """Per column path: how many values held an identifier, and one example."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    scanned: int = 0
    left: dict[str, int] = field(default_factory=dict)  # table -> rows of clients whose deletion was processed

    def add_row(self, table: str, columns: list[str], row: tuple) -> None:
        self.scanned += 1
        for column, value in zip(columns, row, strict=True):
            for path, text in leaves(value, f"{table}.{column}"):
                if allowed(path):
                    continue
                found = identifiers(text)
                if found:
                    self.counts[path] += 1
                    self.examples.setdefault(path, found[0])

    def lines(self) -> list[str]:
        return [f"{path}: {n}, {self.examples[path]}" for path, n in sorted(self.counts.items())] + [
            f"{table}: {n} row(s) of clients whose deletion was processed" for table, n in sorted(self.left.items())
        ]


def audit(con, cursor: Callable, batch: int = 10_000) -> Findings:
    """Scan every table of a DuckDB warehouse, pingpipe's own bookkeeping aside. `cursor(con)` gives
    a reader of its own (loader.writers.duckdb.cursor: the writer may be busy on `con`)."""
    findings = Findings()
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = "
        "current_database() AND table_schema <> '_pingpipe' AND table_type = 'BASE TABLE' ORDER BY 1, 2"
    ).fetchall()
    for schema, name in tables:
        reader = cursor(con)
        try:
            reader.execute(f'SELECT * FROM "{schema}"."{name}"')
            columns = [d[0] for d in reader.description]
            while rows := reader.fetchmany(batch):
                for row in rows:
                    findings.add_row(f"{schema}.{name}", columns, row)
        finally:
            reader.close()
    shredded = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_catalog = current_database() "
        "AND table_schema = '_pingpipe' AND table_name = 'shredded' AND column_name = 'id_column'"
    ).fetchone()[0]
    if shredded:
        recorded = con.execute("SELECT DISTINCT family, id_column FROM _pingpipe.shredded WHERE id_column IS NOT NULL").fetchall()
        for schema, name in tables:
            family = family_of(schema)
            if family is None or name.startswith(DELETION_REQUEST):
                continue
            for column in sorted({c for f, c in recorded if f == family}):
                reader = cursor(con)  # its own: a probe that fails leaves `con` as it was
                try:
                    (n,) = reader.execute(
                        f'SELECT count(*) FROM "{schema}"."{name}" WHERE {column} IN (SELECT client_id '
                        "FROM _pingpipe.shredded WHERE family = ? AND id_column = ?)",
                        [family, column],
                    ).fetchone()
                except duckdb.BinderException:  # the table has no such column: no user of it to find
                    continue
                finally:
                    reader.close()
                if n:
                    findings.left[f"{schema}.{name}"] = findings.left.get(f"{schema}.{name}", 0) + n
    return findings


@dataclass
class DeepFindings:
    """Where a deleted row's value is still written under a folder, value by value never shown."""

    hits: list[tuple[str, int]] = field(default_factory=list)  # (file, offset)
    kept: int = 0  # hits of values that rows still in the warehouse hold too (not a trace)
    files: int = 0
    recorded: int = 0  # values recorded by shreds

    def lines(self) -> list[str]:
        return [f"{path}: offset {offset}: a value of a deleted row" for path, offset in self.hits]


def deep(con, folder, cursor: Callable, progress=None) -> DeepFindings:
    """Scan every byte of every file under `folder` for the values of rows shreds deleted
    (evidence.py). A value that a row still in the warehouse also holds is not a trace of the
    deleted ones: it is counted apart."""
    from pathlib import Path

    out = DeepFindings()
    found = evidence.recorded(con)
    if found is None:
        return out
    keys, records = found
    out.recorded = len(records)

    def seen(path):
        out.files += 1
        if progress is not None:
            progress(path)

    hits = list(evidence.scan(Path(folder), keys, records, seen))
    held = _held_by_kept_rows(con, cursor, {h.value for h in hits})
    for hit in hits:
        if hit.value in held:
            out.kept += 1
        else:
            out.hits.append((hit.path, hit.offset))
    return out


def _held_by_kept_rows(con, cursor: Callable, values: set[bytes]) -> set[bytes]:
    """Those of `values` some row of the warehouse holds (as text, or in its JSON form)."""
    if not values:
        return set()
    texts = {v.decode("utf-8", "replace"): v for v in values}
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = "
        "current_database() AND table_type = 'BASE TABLE' AND table_schema || '.' || table_name "
        "NOT IN (?, ?)",
        [evidence.EVIDENCE, evidence.KEY],
    ).fetchall()
    held: set[bytes] = set()
    for schema, name in tables:
        left = [t for t, v in texts.items() if v not in held]
        if not left:
            break
        reader = cursor(con)
        try:
            rows = reader.execute(
                f'SELECT v FROM unnest(?::VARCHAR[]) AS c(v) WHERE EXISTS (SELECT 1 FROM "{schema}"."{name}" AS t '
                "WHERE contains(CAST(t AS VARCHAR), c.v) OR contains(CAST(to_json(t) AS VARCHAR), c.v))",
                [left],
            ).fetchall()
        finally:
            reader.close()
        held |= {texts[v] for (v,) in rows}
    return held

"""The embedded warehouse: one DuckDB file, a schema per dataset, a table per BigQuery table.

Rows are appended in batches from Arrow tables (loader/arrow.py), or, for the tables and batches
Arrow cannot carry unchanged, through `read_json` over a newline-delimited file of coerced rows.
Both are far faster than executemany, and neither passes nested values as Python parameters.
Tables are created on first use; when a schema gains fields, the new columns are
added in place (nested ones too) and existing rows keep their data. The BigQuery fields each
table was built from are kept in `_pingpipe.tables`, so evolution is a diff of two schemas.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pingpipe import faults, jsontext, utc
from pingpipe.private import private_file, private_umask
from pingpipe.reason import one_line
from pingpipe.schemas.names import META_DATASET

from ..evolution import additions, merge
from ..tables import TableId, duckdb_type, quote
from .locks import LOCK_WAIT, RETRY_EVERY, held_message, holder

if TYPE_CHECKING:
    import pyarrow as pa

META_SCHEMA = META_DATASET
CATALOG = "warehouse"  # the file's name inside DuckDB, whatever the file is called
PURGED = "purged"  # the copy `purge` writes, while it is attached
PURGE_DUE = f"{META_SCHEMA}.purge_due"  # a row while deleted rows' bytes may still be in the file

# DuckDB's row groups hold 122,880 rows. Past the first group, `up`'s small commits got dearer
# per row and its checkpoints stalled longer (a checkpoint rewrites the whole group it appended
# to); smaller groups keep both flat as the warehouse grows (benchmarks/bench_commit.py).
ROW_GROUP_SIZE = 32_768


class WarehouseHeld(duckdb.IOException):
    """Another process kept the file locked for longer than the open waited; the message names it."""


@dataclass
class _Attachment:
    anchor: duckdb.DuckDBPyConnection  # the connection that attached the file
    read_only: bool
    rows: str | None  # the folder its writers' NDJSON batches pass through: the only files its SQL may read
    users: int = 0


_attached: dict[str, _Attachment] = {}  # by real path
_attached_lock = threading.Lock()


def connect(
    path: str | Path, *, read_only: bool = False, settings: dict | None = None, lock_wait: float = LOCK_WAIT
) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the warehouse file; give it back with `disconnect`.

    The file is attached, not opened, because only ATTACH takes a row group size. DuckDB lets a
    process attach a file once, so connections to the same file share one attachment, as
    `duckdb.connect` shares one instance per file. Its cursors start in DuckDB's in-memory
    database: take them with `cursor()`.

    The instance is closed (`lock_down`) as it opens, after its `settings`: later connections in this
    process share both. A file another process holds (a `status` reading it) is waited for, up to
    `lock_wait` seconds, then WarehouseHeld names the holder.
    """
    key = os.path.realpath(path)
    with _attached_lock:
        entry = _attached.get(key)
        if entry is None:
            anchor = duckdb.connect(":memory:")
            rows = None
            try:
                options = "READ_ONLY" if read_only else f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}"
                if not read_only:
                    private_umask()  # the file, its WAL and the batches DuckDB writes: the owner's alone
                _attach(anchor, f"ATTACH {_literal(key)} AS {CATALOG} ({options})", lock_wait)
                anchor.execute(f"SET GLOBAL TimeZone = '{utc.TIME_ZONE}'")  # a timestamp's DATE is its UTC day
                for name, value in (settings or {}).items():
                    anchor.execute(f"SET {name} = ?", [value])
                if not read_only:
                    for made in (key, f"{key}.wal"):  # by DuckDB, which takes no mode; or before this rule
                        private_file(made)
                    rows = _rows_folder(Path(key).parent)
                # before anyone's SQL (`pingpipe query`, the ETL's queries): no files but the writers' batches
                lock_down(anchor, [rows] if rows else [])
            except BaseException:
                anchor.close()
                if rows is not None:
                    _drop_rows_folder(rows)
                raise
            entry = _attached[key] = _Attachment(anchor, read_only, rows)
        elif entry.read_only and not read_only:
            raise duckdb.ConnectionException(f"{path} is open read-only in this process: it cannot be written here")
        con = cursor(entry.anchor)
        entry.users += 1
        return con


def _attach(anchor: duckdb.DuckDBPyConnection, sql: str, wait: float) -> None:
    """ATTACH, tried again while another process holds the file's lock, for `wait` seconds at most."""
    deadline = time.monotonic() + wait
    while True:
        try:
            anchor.execute(sql)
            return
        except duckdb.IOException as exc:
            held = holder(str(exc))
            if held is None:
                raise
            if time.monotonic() >= deadline:
                raise WarehouseHeld(held_message(*held, wait)) from None
        time.sleep(RETRY_EVERY)


def disconnect(con: duckdb.DuckDBPyConnection, path: str | Path) -> None:
    """Close a connection from `connect`; the last one to close detaches the file."""
    con.close()
    key = os.path.realpath(path)
    with _attached_lock:
        entry = _attached.get(key)
        if entry is not None:
            entry.users -= 1
            if entry.users <= 0:
                del _attached[key]
                entry.anchor.close()
                if entry.rows is not None:
                    _drop_rows_folder(entry.rows)


def lock_down(con: duckdb.DuckDBPyConnection, allowed_dirs: list[str]) -> None:
    """Close the DuckDB instance of `con` to the outside before it runs anyone's SQL: no files but
    those under `allowed_dirs` (and DuckDB's own temp directory, which it adds), no network, no
    extensions loaded or installed, and no setting changed again, by anyone (for the whole instance:
    call it after the last SET). Writes to the warehouse are refused per transaction (warehouse.py)."""
    con.execute("SET allowed_directories = ?", [[str(d) for d in allowed_dirs]])  # settable only while access is on
    for setting in ("enable_external_access", "autoload_known_extensions", "autoinstall_known_extensions", "allow_community_extensions"):
        con.execute(f"SET {setting} = false")
    con.execute("SET lock_configuration = true")


def locked_down(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `lock_down` closed this connection's instance (no file access, settings locked)."""
    access, locked = con.execute("SELECT current_setting('enable_external_access'), current_setting('lock_configuration')").fetchone()
    return access is False and locked is True


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection to the same warehouse (for a reader that must not wait for the writer)."""
    cur = con.cursor()
    cur.execute(f"USE {CATALOG}")
    return cur


ROWS_PREFIX = ".pingpipe-rows-"  # beside the warehouse: NDJSON batches on their way into DuckDB
_live_folders: set[str] = set()  # this process's attachments' folders


def _rows_folder(parent: Path) -> str:
    """A writable attachment's folder for its writers' NDJSON batches, beside its warehouse (not in /tmp,
    where a killed writer's would stay). Folders of writers that died are removed: this process holds the
    file (called under _attached_lock), so no other process writes there now."""
    for stale in parent.glob(f"{ROWS_PREFIX}*"):
        if str(stale) not in _live_folders:
            shutil.rmtree(stale, ignore_errors=True)
    folder = tempfile.mkdtemp(prefix=ROWS_PREFIX, dir=parent)
    _live_folders.add(folder)
    return folder


def _drop_rows_folder(folder: str) -> None:
    _live_folders.discard(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBWriter:
    # DuckDB checkpoints (moves the WAL into the file) after 16 MB of WAL by default: every few
    # thousand wide Glean rows. Checkpointing less often costs less CPU in all
    # (benchmarks/bench_loader.py); with 32,768-row groups, 128 MB costs no more CPU than 256 MB
    # and stalls a COMMIT about half as long (benchmarks/bench_commit.py).
    CHECKPOINT_THRESHOLD = "128MB"

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        threads: int | None = None,
        checkpoint_threshold: str = CHECKPOINT_THRESHOLD,
        lock_wait: float = LOCK_WAIT,
    ):
        """Settings are made here, once, because the instance is locked when it opens (`connect`):
        `threads` None is DuckDB's default (one per core)."""
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        settings = {} if read_only else {"checkpoint_threshold": checkpoint_threshold}
        if threads is not None and not read_only:
            settings["threads"] = threads
        self.con = connect(self.path, read_only=read_only, settings=settings, lock_wait=lock_wait)
        self._lock = threading.RLock()
        self._schemas: dict[TableId, list[dict]] = {}
        self.tmp_dir = None  # batches Arrow cannot carry: the attachment's folder, the only files its SQL may read
        if not read_only:
            with _attached_lock:
                self.tmp_dir = _attached[os.path.realpath(self.path)].rows
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
            self.con.execute(
                f"CREATE TABLE IF NOT EXISTS {META_SCHEMA}.tables (dataset VARCHAR, name VARCHAR, fields JSON, PRIMARY KEY (dataset, name))"
            )
            for dataset, name, fields in self.con.execute(f"SELECT dataset, name, fields FROM {META_SCHEMA}.tables").fetchall():
                self._schemas[TableId(dataset, name)] = json.loads(fields)
            if self.purge_due():  # rows were deleted and the process died before their bytes went: now
                self.purge()

    def close(self) -> None:
        with self._lock:
            disconnect(self.con, self.path)  # the last one removes the batch folder

    # -- tables ----------------------------------------------------------------------------

    def table_fields(self, table: TableId) -> list[dict] | None:
        return self._schemas.get(table)

    def tables(self) -> list[TableId]:
        """The tables this warehouse holds (metadata tables aside)."""
        return list(self._schemas)

    def row_counts(self) -> dict[TableId, int]:
        """Rows in each of its tables, in name order (what `pingpipe load` reports when done)."""
        ordered = sorted(self.tables(), key=lambda t: (t.dataset, t.table))
        return {t: self.query(f"SELECT count(*) FROM {quote(t.dataset)}.{quote(t.table)}").fetchone()[0] for t in ordered}

    def loaded(self, table: TableId, ids: list[str], columns: tuple[str, ...] = ("document_id",)) -> Counter:
        """How many rows the table holds of each value of `columns`, among the rows with these ids (a
        batch load run again): document ids for a ping table; for an error table, what tells its rows
        apart, found by their document id, or their uri when they have none."""
        if table not in self._schemas or not ids:
            return Counter()
        names = ", ".join(quote(c) for c in columns)
        where = "coalesce(document_id, uri)" if "uri" in columns else "document_id"
        rows = self.query(
            f"SELECT {names}, count(*) FROM {quote(table.dataset)}.{quote(table.table)} "
            f"WHERE {where} IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
            [ids],
        ).fetchall()
        return Counter({tuple(bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else v for v in r[:-1]): r[-1] for r in rows})

    @contextlib.contextmanager
    def transaction(self):
        """One transaction on the writer's connection, between commits: committed at the end of the
        block, rolled back (DDL included) if it raises. Yields the connection."""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
                self.con.execute("COMMIT")
            except BaseException:
                self._rollback()
                self._reload_schemas()
                raise

    def ensure_table(self, table: TableId, fields: list[dict]) -> list[dict]:
        """Create the table, or add the columns `fields` has and the table lacks; returns its fields."""
        existing = self._schemas.get(table)
        if existing is None:
            columns = ", ".join(f"{quote(f['name'])} {duckdb_type(f)}" for f in fields)
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(table.dataset)}")
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {quote(table.dataset)}.{quote(table.table)} ({columns})")
            merged = fields
        else:
            new = additions(existing, fields)
            if not new:
                return existing
            for path, field in new:
                self.con.execute(f"ALTER TABLE {quote(table.dataset)}.{quote(table.table)} ADD COLUMN {path} {duckdb_type(field)}")
            merged = merge(existing, fields)
        self.con.execute(f"INSERT OR REPLACE INTO {META_SCHEMA}.tables VALUES (?, ?, ?)", [table.dataset, table.table, json.dumps(merged)])
        self._schemas[table] = merged
        return merged

    # -- writing ---------------------------------------------------------------------------

    def _append(self, table: TableId, fields: list[dict], rows: list[dict] | list[bytes] | pa.Table) -> None:
        """Append rows: an Arrow table, dicts (made an Arrow table if they can be), or serialized JSON rows."""
        import pyarrow as pa  # here, not at the top: `query` and `status` open the file and never write

        from ..arrow import schema_for, to_arrow

        columns = self.ensure_table(table, fields)
        if type(rows) is list and rows and type(rows[0]) is dict:
            arrow = to_arrow(schema_for(fields), rows)
            if arrow is not None:
                rows = arrow
        blobs = {fl["name"] for fl in columns if fl["type"] == "BYTES" and fl.get("mode") != "REPEATED"}
        if isinstance(rows, pa.Table):
            blobs &= set(rows.column_names)
        select = "*"
        if blobs:  # BYTES travel as base64 strings
            select = "* REPLACE (" + ", ".join(f"from_base64({quote(b)}) AS {quote(b)}" for b in sorted(blobs)) + ")"
        target = f"{quote(table.dataset)}.{quote(table.table)}"
        if isinstance(rows, pa.Table):
            self.con.register("_pingpipe_rows", rows)
            self.con.execute(f"INSERT INTO {target} BY NAME SELECT {select} FROM _pingpipe_rows")
            self.con.unregister("_pingpipe_rows")  # not on failure: an aborted transaction refuses it (the next register replaces it)
            return
        path = os.path.join(self.tmp_dir, f"{id(self):x}.{table.dataset}.{table.table}.ndjson")  # the folder is shared
        with open(path, "wb") as f:
            # Rows may come already serialized (bytes), e.g. from `pingpipe up`'s worker processes.
            f.write(b"\n".join(row if type(row) is bytes else jsontext.dumps(row) for row in rows))
        types = (
            "{"
            + ", ".join(f"{_literal(fl['name'])}: {_literal('VARCHAR' if fl['name'] in blobs else duckdb_type(fl))}" for fl in columns)
            + "}"
        )
        self.con.execute(
            f"INSERT INTO {target} BY NAME SELECT {select} FROM read_json(?, "
            f"columns={types}, format='newline_delimited', records=true, "  # ISO timestamps: DuckDB's fast parser
            f"maximum_object_size=67108864)",
            [path],
        )
        os.unlink(path)

    def write(self, batches: dict[TableId, tuple[list[dict], list[dict]]], *, extra_sql: list[tuple[str, list]] = ()) -> int:
        """Append every batch ({table: (fields, rows)}) in one transaction; returns rows written.

        `extra_sql` runs in the same transaction (e.g. marking a queue segment done), so the
        rows and the mark commit together or not at all.
        """
        written = 0
        with self.transaction() as con:  # DDL is rolled back too on failure: the schemas are read again
            for table, (fields, rows) in batches.items():
                if rows:
                    self._append(table, fields, rows)
                    written += len(rows)
            for sql, params in extra_sql:
                con.execute(sql, params)
        return written

    def probe(self, table: TableId, fields: list[dict], rows: list | pa.Table) -> list[tuple[int, str]]:
        """(index, DuckDB's message) for each row that cannot be appended alone; nothing is kept.

        The slow path, for a batch that failed: each row is tried in its own transaction and rolled back.
        """
        import pyarrow as pa

        bad = []
        with self._lock:
            for i in range(len(rows)):
                self.con.execute("BEGIN TRANSACTION")
                try:
                    # take, not slice: DuckDB refuses struct columns at an offset
                    self._append(table, fields, rows.take(pa.array([i], pa.int64())) if isinstance(rows, pa.Table) else [rows[i]])
                except duckdb.Error as exc:
                    bad.append((i, one_line(exc)[:1000]))
                finally:
                    self._rollback()
                    self._reload_schemas()  # a table or column the probe created was rolled back with it
        return bad

    def _rollback(self) -> None:
        """Roll back, keeping the error that got us here: a COMMIT that failed (a full disk) has
        already ended the transaction, and DuckDB's "no transaction is active" would hide its cause."""
        try:
            self.con.execute("ROLLBACK")
        except duckdb.TransactionException:
            pass

    # -- deleting for good ------------------------------------------------------------------

    def mark_purge(self, con, reason: str) -> None:
        """In the caller's transaction, which deletes rows: their bytes must leave the file (`purge`).
        Committed with the deletion, so a crash before the purge is finished by the next open."""
        con.execute(f"CREATE TABLE IF NOT EXISTS {PURGE_DUE} (reason VARCHAR, since TIMESTAMPTZ)")
        con.execute(f"INSERT INTO {PURGE_DUE} VALUES (?, now())", [reason])

    def purge_due(self) -> bool:
        with self._lock:
            return bool(
                self.con.execute(
                    "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
                    PURGE_DUE.split("."),
                ).fetchone()[0]
            ) and bool(self.con.execute(f"SELECT count(*) FROM {PURGE_DUE}").fetchone()[0])

    def purge(self) -> int:
        """Rewrite the warehouse as a new file holding only what it holds now, and put it in place of
        the old one; returns the new file's size.

        DuckDB's DELETE only marks rows: their bytes stay in the file (in row groups still in use, in
        dictionaries, in the statistics of metadata blocks, in free blocks it never zeroes) and in
        its WAL, until something rewrites them. Rewriting just the touched tables leaves the old
        blocks free but not blank, so the whole file is copied, visible rows only (COPY FROM
        DATABASE: tables, views, macros, constraints), beside the old one in the writer's own
        folder. The rename is the commit: a crash before it leaves the old file whole, with its
        purge still due, and the copy is swept away by the next open (stale batch folders are), which
        purges again."""
        with self._lock:
            target = os.path.join(self.tmp_dir, "purged.duckdb")
            for leftover in (target, f"{target}.wal"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
            self.con.execute(f"ATTACH {_literal(target)} AS {PURGED} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
            try:
                self.con.execute(f"COPY FROM DATABASE {CATALOG} TO {PURGED}")
                self.con.execute(f"DROP TABLE IF EXISTS {PURGED}.{PURGE_DUE}")
            finally:
                self.con.execute(f"DETACH {PURGED}")  # checkpointed: the copy is whole, with no WAL
            faults.point("purge.copied")
            _fsync(target)
            key = os.path.realpath(self.path)
            self.con.execute("FORCE CHECKPOINT")  # the old file's WAL into it, so that DETACH leaves none
            self.con.execute("USE memory")
            try:
                self.con.execute(f"DETACH {CATALOG}")
            except BaseException:
                self.con.execute(f"USE {CATALOG}")
                raise
            try:
                wal = f"{key}.wal"
                if os.path.exists(wal):
                    if os.path.getsize(wal):
                        raise RuntimeError(f"{wal} was not checkpointed: the warehouse is left as it was")
                    os.unlink(wal)
                faults.point("purge.detached")
                os.replace(target, key)
                _fsync(os.path.dirname(key))
                faults.point("purge.replaced")
            finally:
                self.con.execute(f"ATTACH {_literal(key)} AS {CATALOG} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
                self.con.execute(f"USE {CATALOG}")
            private_file(key)
            return os.path.getsize(key)

    def _reload_schemas(self) -> None:
        self._schemas.clear()
        for dataset, name, fields in self.con.execute(f"SELECT dataset, name, fields FROM {META_SCHEMA}.tables").fetchall():
            self._schemas[TableId(dataset, name)] = json.loads(fields)

    def query(self, sql: str, params: list | None = None):
        with self._lock:
            return self.con.execute(sql, params or [])

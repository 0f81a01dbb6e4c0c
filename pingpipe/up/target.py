"""The warehouse a command works on, resolved once from `--data`/`--warehouse`: the running `up` on
DATA (asked through its admin port, since it holds the file), DATA's DuckDB file, a DuckDB file
named `duckdb:PATH`, or the BigQuery project `bigquery:PROJECT`.

Every warehouse command reaches its warehouse through a `Target` (tasks.py says what each does on it),
and each mistake in naming one is one line that says what would work.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from pingpipe.reason import one_line

from .config import warehouse_of

UP, DUCKDB, BIGQUERY = "up", "duckdb", "bigquery"
WAREHOUSE = "--warehouse"


class CommandError(Exception):
    """A command's mistake, as the one line its user reads; `option` names the option at fault
    (a usage mistake, exit 2), None when the options were right but the warehouse says no (exit 1)."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


def parse_warehouse(value: str, kinds: tuple[str, ...]) -> tuple[str, str]:
    """(kind, PATH or PROJECT) of a --warehouse value that names one of `kinds`."""
    kind, sep, where = value.partition(":")
    if sep and kind in kinds and where:
        return kind, where
    if kind == BIGQUERY and BIGQUERY not in kinds:
        raise CommandError("this command runs on the DuckDB warehouse (duckdb:PATH, or --data DIR)", WAREHOUSE)
    if kind in kinds:  # `duckdb`, `bigquery:`: the kind without what it names
        what = "DuckDB file as duckdb:PATH" if kind == DUCKDB else "project as bigquery:PROJECT"
        raise CommandError(f"{value!r}: give the {what}", WAREHOUSE)
    if DUCKDB in kinds:
        hint = f" (did you mean duckdb:{value}?)" if not sep or value.endswith(".duckdb") else ""
    else:
        hint = " (a DuckDB warehouse is --data's)"
    expected = " or ".join(k + (":PATH" if k == DUCKDB else ":PROJECT") for k in kinds)
    raise CommandError(f"{value!r}: expected {expected}{hint}", WAREHOUSE)


@dataclass(frozen=True)
class Target:
    """Where a command runs. `kind` is UP (the running `up` on `data`; its file when it stops
    answering), DUCKDB (`path`; `data` when it is DATA's) or BIGQUERY (`project`)."""

    kind: str
    path: Path | None = None
    data: Path | None = None
    project: str | None = None

    @property
    def spec(self) -> str:
        """The loader's name for it: duckdb:PATH or bigquery:PROJECT."""
        return f"bigquery:{self.project}" if self.kind == BIGQUERY else f"duckdb:{self.path}"

    def running(self) -> bool:
        """Whether the `up` it was resolved to still runs."""
        from .client import read_state

        return self.kind == UP and read_state(self.data) is not None

    def ask(self, method: str, path: str, body: bytes | None = None) -> dict | None:
        """The running `up`'s answer; None when the target is no running `up`, or it stopped
        answering (then its file is free, or soon: the caller opens it). A refusal is a QueryError."""
        if self.kind != UP:
            return None
        from .client import NotRunning, call

        try:
            return call(self.data, method, path, body)
        except NotRunning:
            return None

    def file(self) -> Path:
        if self.path is None:
            raise CommandError(f"{self.spec}: this runs on a DuckDB warehouse (duckdb:PATH, or --data DIR)", WAREHOUSE)
        return self.path

    def existing(self) -> Path:
        if not self.file().exists():
            start = f": start `pingpipe up --data {self.data}` first" if self.data is not None else ""
            raise CommandError(f"no warehouse at {self.path}{start}")
        return self.path

    def held(self, exc: Exception) -> CommandError:
        """The open waited (writers.locks) and the file is still another process's: say whose, in one line."""
        whose = f" (and no running `pingpipe up` answered for {self.data})" if self.data is not None else ""
        return CommandError(f"cannot open the warehouse {self.path}: {one_line(exc)}{whose}")

    @contextlib.contextmanager
    def read_only(self):
        """Its DuckDB file opened read-only: a connection."""
        import duckdb

        from pingpipe.loader.writers.duckdb import connect, disconnect

        path = self.existing()
        try:
            con = connect(path, read_only=True)
        except duckdb.IOException as exc:
            raise self.held(exc) from None
        try:
            yield con
        finally:
            disconnect(con, path)

    @contextlib.contextmanager
    def writable(self):
        """Its DuckDB file opened for writing: a DuckDBWriter."""
        import duckdb

        from pingpipe.loader.writers.duckdb import DuckDBWriter
        from pingpipe.private import private_folder

        path = self.existing()
        if self.data is not None:
            private_folder(self.data)  # a folder an older pingpipe made: its owner's alone before anything is written
        try:
            writer = DuckDBWriter(path)
        except duckdb.IOException as exc:
            raise self.held(exc) from None
        try:
            yield writer
        finally:
            writer.close()

    def require_free(self) -> None:
        """A DuckDB file another process holds (a running `pingpipe up`) cannot be written: say so now."""
        import duckdb

        from pingpipe.loader.writers.duckdb import connect, disconnect

        from .client import read_state

        path = self.file()
        state = read_state(path.parent)
        if state and Path(state.get("warehouse", "")).resolve() == path.resolve():
            raise CommandError(
                f"pingpipe up (PID {state['pid']}) holds {path}: stop it first, or send the pings to its edge ({state.get('edge', '')})"
            )
        if not path.exists():
            return
        try:  # waits, as every open does, while another process holds the file (writers/locks.py)
            disconnect(connect(path), path)
        except duckdb.Error as exc:
            raise CommandError(f"cannot open {path}: {one_line(exc)}") from None

    def client(self):
        """Its BigQuery client."""
        from pingpipe.loader.writers.bigquery import make_client

        return make_client(self.project)


def resolve(data: Path, warehouse: str | None = None, kinds: tuple[str, ...] = (DUCKDB, BIGQUERY), up: bool = True) -> Target:
    """The target of a command's --data and --warehouse (one of `kinds`). Without --warehouse: the
    `up` running on DATA when `up` may answer, else DATA's DuckDB file (which need not exist yet)."""
    if warehouse is not None:
        kind, where = parse_warehouse(warehouse, kinds)
        return Target(BIGQUERY, project=where) if kind == BIGQUERY else Target(DUCKDB, path=Path(where))
    if up:
        from .client import read_state

        if read_state(data) is not None:
            return Target(UP, path=warehouse_of(data), data=data)
    return Target(DUCKDB, path=warehouse_of(data), data=data)

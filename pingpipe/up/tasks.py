"""What each warehouse command does, on its `Target` (target.py): one plain function each, which the
command line wires to options and tests call. Each asks the running `up` first (it holds the file),
else opens the DuckDB file, else runs as BigQuery jobs where the data is; each returns what it did
as a dict, and the command prints it.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from pingpipe import utc
from pingpipe.privacy.expire import ERROR_RETENTION_DAYS

from .target import BIGQUERY, CommandError, Target


def query(target: Target, sql: str) -> dict:
    """A read-only query's {"columns", "rows"}; a refused one is a QueryError."""
    from . import warehouse

    result = target.ask("POST", "/query", sql.encode("utf-8"))
    if result is None:
        with target.read_only() as con:
            result = warehouse.run_query(con, sql)
    return result


def status(target: Target) -> dict:
    """Tables with row counts, errors by type, the queue's backlog, and whether `up` answered."""
    from . import warehouse

    info = target.ask("GET", "/status")
    running = info is not None
    if info is None:
        with target.read_only() as con:
            info = warehouse.status(con)
        info["backlog"] = warehouse.backlog(target.data / "queue")
    info["running"] = running
    return info


def audit(target: Target, deep: bool = False, progress: Callable[[Path], None] | None = None) -> dict:
    """{"rows", "findings"} of the identifier audit, and with `deep` its "traces" of deleted rows'
    bytes under DATA ({"deep", "kept", "files", "recorded"})."""
    from pingpipe.loader.writers.duckdb import cursor
    from pingpipe.privacy.audit import audit as run_audit
    from pingpipe.privacy.audit import deep as run_deep

    result = target.ask("GET", "/audit")
    if result is not None:
        traces = target.ask("GET", "/audit?deep=1") if deep else None
        return {"rows": result["rows"], "findings": result["findings"], "traces": traces}
    with target.read_only() as con:
        findings = run_audit(con, cursor)
        traces = None
        if deep:
            found = run_deep(con, target.data, cursor, progress=progress)
            traces = {"deep": found.lines(), "kept": found.kept, "files": found.files, "recorded": found.recorded}
    return {"rows": findings.scanned, "findings": findings.lines(), "traces": traces}


def shred(target: Target, dry_run: bool = False, user_ids: Path | None = None, full: bool = False) -> dict:
    """Delete (or, dry, count) every deleted client's rows: {"rows": {table: n}, "skipped", "scope", ["deferred"]}.
    `user_ids` rules come before the shipped ones (and a running `up`'s own); `full` scans every partition."""
    from pingpipe.privacy.shred import load_rules

    rules = load_rules(user_ids)  # a mistake in them is said before anything runs
    if target.kind == BIGQUERY:
        from .cycle import bigquery_tables, shred_on_bigquery

        client = target.client()
        return shred_on_bigquery(client, target.project, bigquery_tables(client, target.project), dry_run=dry_run, rules=rules, full=full)
    query = "&".join(flag for flag, on in (("dry_run=1", dry_run), ("full=1", full)) if on)
    result = target.ask("POST", "/shred" + (f"?{query}" if query else ""), user_ids.read_bytes() if user_ids else b"")
    if result is None:
        from .cycle import shred_warehouse

        with target.writable() as writer:
            result = shred_warehouse(writer, dry_run=dry_run, rules=rules, full=full)
    return result


def replay(
    target: Target,
    selection,
    *,
    dry_run: bool = False,
    cycle_days: bool = True,
    schemas: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    beam_args: list[str] = (),
) -> dict:
    """Replay the error rows `selection` picks (pingpipe/up/replay.py): through a running `up` (with its
    schemas, or a dry run's `schemas`), else on the data folder's warehouse with `schemas`, or on a
    BigQuery project as a Beam job (`beam_args`: its options; replay_bigquery.py); its report. With
    `cycle_days`, each replayed day whose cycle ran is cycled again."""
    if target.kind == BIGQUERY:
        return replay_on_bigquery(
            target, selection, dry_run=dry_run, cycle_days=cycle_days, schemas=schemas, progress=progress, beam_args=beam_args
        )
    flags = [("dry_run", "1")] * dry_run + [("no_cycle", "1")] * (not cycle_days)
    if dry_run and schemas is not None:  # a running `up` decodes with its own, but for a preview (`schemas diff --errors`)
        flags.append(("schemas", str(Path(schemas).resolve())))
    query = "&".join(part for part in (selection.query(), urllib.parse.urlencode(flags)) if part)
    result = target.ask("POST", "/replay" + (f"?{query}" if query else ""), b"")
    if result is not None:
        return result
    from pingpipe.decoder.core import Decoder, DecoderConfig
    from pingpipe.loader.load import Loader

    from . import cycle as daily
    from . import replay as replaying
    from .commit import Committer

    decoder = Decoder.from_config(DecoderConfig(schemas=schemas))
    with target.writable() as writer:
        return replaying.replay_and_after(
            writer,
            Committer(writer),
            decoder,
            Loader(decoder.registry),
            selection,
            dry_run=dry_run,
            shred=lambda since: daily.shred_warehouse(writer, since=since),
            cycle=(lambda day: daily.run_cycle(writer, decoder.registry, day)) if cycle_days else None,
            progress=progress,
        )


def trace(target: Target, document_id: str, since: dt.date | None = None) -> dict:
    """Every place the document is known (trace.py): through a running `up`, else on the data folder;
    on BigQuery from `since` on (default: the last 30 days)."""
    if target.kind == BIGQUERY:
        from .trace import in_bigquery

        return in_bigquery(target.client(), target.project, document_id, since or utc.today() - dt.timedelta(days=30))
    result = target.ask("GET", "/trace?" + urllib.parse.urlencode({"id": document_id}))
    if result is not None:
        return result
    from .trace import trace as find

    with target.read_only() as con:
        return find(con, document_id, target.data / "queue" if target.data is not None else None)


def stats(target: Target, day: dt.date, by: str | None = None) -> dict:
    """The day's pings accounted for (stats.py): through a running `up`, else on the data folder."""
    query = {"date": day.isoformat(), **({"by": by} if by else {})}
    result = target.ask("GET", "/stats?" + urllib.parse.urlencode(query))
    if result is not None:
        return result
    from .stats import stats as account

    if target.data is None:
        raise CommandError("stats reads the queue beside the warehouse: give --data DIR", "--warehouse")
    with target.read_only() as con:
        return account(con, day, target.data / "queue", by)


def replay_on_bigquery(target: Target, selection, *, dry_run: bool, cycle_days: bool, schemas, progress, beam_args) -> dict:
    """`replay` on a BigQuery project, then its shred and cycles, as replay_and_after does them."""
    from pingpipe.decoder.core import DecoderConfig
    from pingpipe.schemas.registry import Registry

    from . import cycle as daily
    from . import replay as replaying
    from .replay_bigquery import cycled_days, replay_bigquery

    config = DecoderConfig(schemas=schemas)
    report = replay_bigquery(target.project, selection, config, dry_run=dry_run, beam_args=beam_args, progress=progress)
    client = target.client()
    tables = daily.bigquery_tables(client, target.project)
    replaying.shred_replayed(report, lambda since: daily.shred_on_bigquery(client, target.project, tables, since=since))
    if "committed" in report and cycle_days:
        registry = Registry.load(schemas)
        replaying.recycle(
            report, cycled_days(client, target.project), lambda day: daily.run_cycle_bigquery(client, target.project, registry, day)
        )
    return report


def cycles(
    target: Target,
    days: list[dt.date],
    *,
    schemas: Path | None = None,
    sql: Path | None = None,
    user_ids: Path | None = None,
    error_retention_days: int = ERROR_RETENTION_DAYS,
    progress: Callable[[int, int, dt.date, dict], None] | None = None,
) -> list[dict]:
    """The daily cycle of each day, oldest first (baseline_clients_last_seen needs the day before):
    its report each. A running `up` runs it with its own schemas, queries and rules; the others are
    for running it here."""
    from pingpipe.privacy.shred import load_rules

    rules = load_rules(user_ids)
    for day in days:
        if problem := utc.not_ended(day):  # its cycle would be recorded as done with part of the day
            raise CommandError(problem, "--date")
    reports: list[dict] = []

    def done(report: dict) -> None:
        reports.append(report)
        if progress is not None:
            progress(len(reports), len(days), days[len(reports) - 1], report)

    for day in days:
        report = target.ask("POST", f"/cycle?date={day}", b"")
        if report is None:  # no running `up`, or it stopped: the rest here
            break
        done(report)
    rest = days[len(reports) :]
    if not rest:
        return reports
    from pingpipe.schemas.registry import Registry

    from . import cycle as daily

    registry = Registry.load(schemas)
    options = {"error_retention_days": error_retention_days, "rules": rules, "sql": sql}
    if target.kind == BIGQUERY:
        client = target.client()
        for day in rest:
            done(daily.run_cycle_bigquery(client, target.project, registry, day, **options))
        return reports
    with target.writable() as writer:
        for day in rest:
            done(daily.run_cycle(writer, registry, day, **options))
    return reports


def days_due(target: Target) -> list[dt.date]:
    """The ended days whose cycle has not run on the target, oldest first (at most the last
    CATCH_UP_DAYS); none on a running `up`, which runs them itself."""
    from . import cycle as daily

    if target.kind == BIGQUERY:
        last = daily.last_cycle_bigquery(target.client(), target.project)
    elif target.running():
        return []
    else:
        with target.writable() as writer:
            last = daily.last_cycle(writer)
    return utc.days_due(last, utc.today(), daily.CATCH_UP_DAYS)


def cycle(target: Target, day: dt.date, **options) -> dict:
    """The daily cycle of one day (`cycles`' options): dedupe, shred, expire, derived tables."""
    return cycles(target, [day], **options)[0]


def etl(target: Target, day: dt.date, *, tables: tuple[str, ...] = (), sql: Path | None = None, schemas: Path | None = None) -> dict:
    """The day's derived tables (only `tables` when given), in dependency order: {"ran", "waiting",
    "failed", "unknown"}. A running `up` uses its own schemas."""
    from pingpipe.schemas.registry import Registry

    from . import cycle as daily

    only = set(tables) or None
    if target.kind == BIGQUERY:
        registry = Registry.load(schemas)
        return daily.run_etl_bigquery(target.client(), target.project, registry, day, sql=sql, only=only).as_dict()
    path = f"/etl?date={day}" + "".join(f"&table={t}" for t in tables)
    report = target.ask("POST", path, str(sql.resolve()).encode() if sql else b"")
    if report is None:
        registry = Registry.load(schemas)
        with target.writable() as writer:
            report = daily.run_etl(writer, registry, day, sql=sql, only=only).as_dict()
    return report


def etl_check(target: Target, day: dt.date, *, tables: tuple[str, ...] = (), sql: Path | None = None, schemas: Path | None = None) -> dict:
    """The checks (checks.sql) of the day's derived tables (only `tables` when given), on what they
    hold, without running their queries: {"checks": {table: [outcome]}, "unknown"}. On DuckDB each
    check is a read-only query (through a running `up`, which holds the file)."""
    from pingpipe.etl import catalog
    from pingpipe.etl.bigquery import run_checks_bigquery
    from pingpipe.etl.run import run_checks, unknown_tables
    from pingpipe.schemas.registry import Registry

    queries = catalog.queries(Registry.load(schemas), sql)
    report = {"checks": {}, "unknown": unknown_tables(queries, set(tables) or None)}
    for q in queries if not report["unknown"] else ():
        if not q.checks or (tables and q.name not in tables):
            continue
        if target.kind == BIGQUERY:
            from google.cloud import bigquery

            params = [bigquery.ScalarQueryParameter(q.date_parameter, "DATE", day)] if q.date_parameter else []
            outcomes = run_checks_bigquery(target.client(), target.project, q, bigquery.QueryJobConfig(query_parameters=params))
        else:
            outcomes = run_checks(None, q, day, execute=lambda sql: query(target, sql))
        report["checks"][q.name] = outcomes
    return report


def dedupe(target: Target, day: dt.date) -> dict[str, int]:
    """Only the copy of `day` into the stable tables: rows kept per table."""
    from . import cycle as daily

    if target.kind == BIGQUERY:  # jobs where the data is: one MERGE per table (loader/dayjob.py)
        return daily.copy_deduplicate_bigquery(target.client(), target.project, day)
    answer = target.ask("POST", f"/dedupe?date={day}")
    if answer is not None:
        return answer["kept"]
    target.existing()
    target.require_free()
    with target.writable() as writer:
        return daily.copy_deduplicate(writer, day)

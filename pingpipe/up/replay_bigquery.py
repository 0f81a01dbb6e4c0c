"""`pingpipe replay --warehouse bigquery:PROJECT`: the replay where the data is (replay.py's rules).

A Beam job (the DirectRunner here, Dataflow at scale) reads the error rows the selection picks, by
one query per error table and day; brings the copies of each document together; decodes each again
with the decoder every runner uses; and writes what that makes through the BigQuery writer, into
this run's staged tables (names.staged): recovered rows, new error rows, counted duplicates (of a
document its live table holds, or of an earlier copy: decoder/dedupe.py's rule), and one outcome row
per error row read. Until the job is done nothing of production changes. Then one BigQuery
transaction copies the staged rows into their tables, deletes the replayed error rows (each by the
fingerprint it was read with) and records each recovered document (REPLAYS). Killed before, nothing
changed (staged tables expire by themselves); the transaction commits whole or not at all; so a
rerun does the rest. A dry run is the same job, reported and dropped.

BigQuery refuses a DELETE over rows still in its streaming buffer: rows are picked only up to the
oldest buffered write of the error tables, and a transaction refused even so changes nothing.
One replay of a project at a time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

import apache_beam as beam

from pingpipe import faults, utc
from pingpipe.decoder.core import Decoded, DecoderConfig
from pingpipe.decoder.dedupe import DedupeConfig, document_key, duplicates
from pingpipe.decoder.failures import duplicate
from pingpipe.loader.load import Batch, Loader, error_message, write_refusing
from pingpipe.loader.writers.bigquery import BigQueryConfig, BigQueryWriter, ensure_dataset, make_client
from pingpipe.schemas.names import (
    CYCLES,
    DOCUMENT_NAMESPACE,
    DOCUMENT_TYPE,
    ERROR_DATASET,
    META_DATASET,
    REPLAYS,
    SUBMISSION_TIMESTAMP,
    TableId,
    staged,
    staged_for,
)

from .replay import Selection, fails_as_before
from .target import CommandError

FINGERPRINT = "_fingerprint"  # of an error row as read: what the transaction deletes it by
OUTCOMES = TableId(META_DATASET, "outcomes")  # one row per error row read (staged only)
RECOVERED, DUPLICATE, FAILED, UNCHANGED = "recovered", "duplicate", "failed", "unchanged"
OUTCOME_FIELDS = [
    {"name": name, "type": kind, "mode": "NULLABLE"}
    for name, kind in (
        ("error_table", "STRING"),
        (FINGERPRINT, "INT64"),
        ("document_key", "STRING"),  # not document_id: the writer would make it each row's insertId
        (DOCUMENT_NAMESPACE, "STRING"),
        (DOCUMENT_TYPE, "STRING"),
        ("error_type", "STRING"),
        (SUBMISSION_TIMESTAMP, "TIMESTAMP"),
        ("outcome", "STRING"),
        ("into_table", "STRING"),
        ("new_error_type", "STRING"),
    )
]
REPLAYS_FIELDS = [
    {"name": name, "type": kind, "mode": "NULLABLE"}
    for name, kind in (
        ("replayed_at", "TIMESTAMP"),
        ("document_id", "STRING"),
        ("error_table", "STRING"),
        ("error_type", "STRING"),
        (SUBMISSION_TIMESTAMP, "TIMESTAMP"),
        ("into_table", "STRING"),
    )
]


def outcome(row: dict, kind: str, into: str | None = None, error_type: str | None = None) -> dict:
    stamp = row.get(SUBMISSION_TIMESTAMP)
    return {
        "error_table": row["_error_table"],
        FINGERPRINT: row[FINGERPRINT],
        "document_key": document_key(row),
        DOCUMENT_NAMESPACE: row.get(DOCUMENT_NAMESPACE),
        DOCUMENT_TYPE: row.get(DOCUMENT_TYPE),
        "error_type": row.get("error_type"),
        SUBMISSION_TIMESTAMP: utc.timestamp(stamp) if isinstance(stamp, dt.datetime) else stamp,
        "outcome": kind,
        "into_table": into,
        "new_error_type": error_type,
    }


# -- the job ---------------------------------------------------------------------------------


class ReadErrorRows(beam.DoFn):
    """One (error table, day) shard: its rows the selection picks, up to the replay's moment, each
    with its fingerprint, keyed by its document (a row naming none is its own key)."""

    def __init__(self, project: str, location: str | None, selection: Selection, upto: dt.datetime):
        self.project, self.location, self.selection, self.upto = project, location, selection, upto

    def setup(self):
        self.client = make_client(self.project, self.location)

    def process(self, shard: tuple[str, str]):
        from google.cloud import bigquery

        table, day = shard
        where, params = self.selection.where_bigquery()
        start, end = utc.bounds(dt.date.fromisoformat(day))
        sql = (
            f"SELECT FARM_FINGERPRINT(TO_JSON_STRING(t)) AS {FINGERPRINT}, t.* FROM `{self.project}.{table}` AS t "
            f"WHERE {where} AND {SUBMISSION_TIMESTAMP} >= @start AND {SUBMISSION_TIMESTAMP} < @end AND {SUBMISSION_TIMESTAMP} <= @upto"
        )
        params += [bigquery.ScalarQueryParameter(name, "TIMESTAMP", v) for name, v in (("start", start), ("end", end), ("upto", self.upto))]
        for found in self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result():
            row = dict(found.items())
            row["_error_table"] = table
            yield document_key(row) or f"{table}#{row[FINGERPRINT]}", row


class ReplayBatch(beam.DoFn):
    """Whole documents (every copy read), decoded again and written to the run's staged tables with
    their outcomes, as replay.py decides: a row failing as before stays; a copy of a document its live
    table holds, or a later copy, is a counted duplicate."""

    def __init__(self, project: str, config: DecoderConfig, bigquery: BigQueryConfig):
        self.project, self.config, self.bigquery = project, config, bigquery

    def setup(self):
        from pingpipe.decoder.pipeline import shared_decoder

        self.decoder = shared_decoder(self.config)
        self.loader = Loader(self.decoder.registry)
        self.writer = BigQueryWriter(self.project, registry=self.decoder.registry, config=self.bigquery)

    def teardown(self):
        self.writer.close()

    def process(self, documents):
        batch, outcomes, copies = Batch(), [], []
        for _, rows in documents:
            for row in rows:
                decoded = self.decoder.decode(error_message(row))
                if isinstance(decoded, Decoded):
                    copies.append((row, decoded))
                elif fails_as_before(row, decoded):
                    outcomes.append(outcome(row, UNCHANGED))
                else:
                    self.loader.route(decoded.message.data, decoded.message.attributes, batch)
                    outcomes.append(outcome(row, FAILED, error_type=decoded.error_type))
        ids = [document_key(d.attributes) for _, d in copies]
        later = duplicates(ids, [d.attributes.get(SUBMISSION_TIMESTAMP) for _, d in copies], self.present(copies))
        for i, (row, decoded) in enumerate(copies):
            if i in later:
                copy = duplicate(decoded.attributes)
                self.loader.route(copy.data, copy.attributes, batch)
                outcomes.append(outcome(row, DUPLICATE, into=decoded.table))
                continue
            rows_before = batch.counts["rows"]
            message = decoded.to_message()
            self.loader.route(message.data, message.attributes, batch, decoded.payload)
            kept = batch.counts["rows"] > rows_before
            outcomes.append(outcome(row, RECOVERED, into=decoded.table) if kept else outcome(row, FAILED, error_type="Load"))
        for found in outcomes:
            batch.add(OUTCOMES, OUTCOME_FIELDS, found)
        write_refusing(self.writer, batch)
        yield len(outcomes)

    def present(self, copies: list[tuple[dict, Decoded]]) -> set[str]:
        """The documents among `copies` their live table holds, read from a dedupe window before the
        earliest copy on (a partition filter)."""
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        by_table: dict[str, set[str]] = {}
        for _, decoded in copies:
            by_table.setdefault(decoded.table, set()).add(document_key(decoded.attributes))
        if not copies:
            return set()
        window = dt.timedelta(seconds=DedupeConfig.window)
        earliest = min(dt.datetime.fromisoformat(d.attributes[SUBMISSION_TIMESTAMP]) for _, d in copies) - window
        found: set[str] = set()
        for table, ids in by_table.items():
            config = bigquery.QueryJobConfig(
                query_parameters=[
                    bigquery.ArrayQueryParameter("ids", "STRING", sorted(ids)),
                    bigquery.ScalarQueryParameter("since", "TIMESTAMP", earliest),
                ]
            )
            sql = (
                f"SELECT DISTINCT document_id FROM `{self.project}.{table}` "
                f"WHERE document_id IN UNNEST(@ids) AND {SUBMISSION_TIMESTAMP} >= @since"
            )
            try:
                found |= {r[0] for r in self.writer.client.query(sql, job_config=config).result()}
            except NotFound:  # no such table yet: it holds nothing
                pass
        return found


def build(pipeline, project: str, location: str | None, selection: Selection, upto: dt.datetime, shards, config, staging):
    """Wire the replay job into `pipeline`: shards (error table, day) -> rows -> documents -> staged."""
    from pingpipe.decoder.build import progress

    return (
        pipeline
        | "Shards" >> beam.Create(shards)  # a few (table, day) pairs: the rows themselves are read by queries
        | "Read" >> beam.ParDo(ReadErrorRows(project, location, selection, upto))
        | "Progress" >> progress("replay: error rows read, so far")
        | "ByDocument" >> beam.GroupByKey()
        | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=500)
        | "Replay" >> beam.ParDo(ReplayBatch(project, config, BigQueryConfig(location, staging=staging)))
    )


# -- the launcher ----------------------------------------------------------------------------


def error_tables(client, project: str) -> list[TableId]:
    from google.api_core.exceptions import NotFound

    try:
        return sorted((TableId(ERROR_DATASET, t.table_id) for t in client.list_tables(f"{project}.{ERROR_DATASET}")), key=str)
    except NotFound:
        return []


def moment(client, project: str, tables: list[TableId], selection: Selection) -> tuple[dt.datetime | None, bool]:
    """The replay's moment: the latest error row the selection picks, but no later than the oldest write
    still in an error table's streaming buffer (BigQuery would not delete it); and whether it was held back."""
    from google.cloud import bigquery

    where, params = selection.where_bigquery()
    latest = None
    buffered = []
    for table in tables:
        sql = f"SELECT max({SUBMISSION_TIMESTAMP}) FROM `{project}.{table}` WHERE {where}"
        (found,) = next(iter(client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result()))
        latest = max(latest, found) if latest and found else (latest or found)
        buffer = client.get_table(f"{project}.{table}").streaming_buffer
        if buffer is not None and buffer.oldest_entry_time is not None:
            buffered.append(buffer.oldest_entry_time)
    return bounded(latest, buffered)


def bounded(latest: dt.datetime | None, buffered: list[dt.datetime]) -> tuple[dt.datetime | None, bool]:
    """The latest row to pick: `latest`, unless a write still in a streaming buffer (`buffered`, each
    table's oldest) is older; and whether it was held back."""
    if latest is not None and buffered and min(buffered) <= latest:
        return min(buffered) - dt.timedelta(microseconds=1), True
    return latest, False


def shards(client, project: str, tables: list[TableId], selection: Selection, upto: dt.datetime) -> tuple[list[tuple[str, str]], int]:
    """(error table, day) pairs holding rows to replay, and how many rows they hold."""
    from google.cloud import bigquery

    where, params = selection.where_bigquery()
    params = [*params, bigquery.ScalarQueryParameter("upto", "TIMESTAMP", upto)]
    out, total = [], 0
    for table in tables:
        sql = (
            f"SELECT DATE({SUBMISSION_TIMESTAMP}) AS day, count(*) FROM `{project}.{table}` "
            f"WHERE {where} AND {SUBMISSION_TIMESTAMP} <= @upto GROUP BY day ORDER BY day"
        )
        for day, n in client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result():
            out.append((str(table), day.isoformat()))
            total += n
    return out, total


def staged_tables(client, project: str, run: str) -> dict[TableId, TableId]:
    """This run's staged tables: staged -> the table they are for."""
    out = {}
    for t in client.list_tables(f"{project}.{META_DATASET}"):
        target = staged_for(run, TableId(META_DATASET, t.table_id))
        if target is not None:
            out[TableId(META_DATASET, t.table_id)] = target
    return out


def report(client, project: str, outcomes: str, dry_run: bool) -> dict:
    """replay.py's report, read from the outcomes of the run."""
    rows = list(
        client.query(
            f"SELECT outcome, into_table, new_error_type, {DOCUMENT_NAMESPACE}, {DOCUMENT_TYPE}, error_type, "
            f"DATE({SUBMISSION_TIMESTAMP}) AS day, count(*) AS n FROM `{project}.{outcomes}` GROUP BY 1, 2, 3, 4, 5, 6, 7"
        ).result()
    )
    tables: dict[str, Counter] = {}
    errors, recovers, days, unchanged = Counter(), {}, set(), 0
    for kind, into, new_error, namespace, doctype, error_type, day, n in rows:
        if kind == UNCHANGED:
            unchanged += n
            continue
        days.add(day.isoformat())
        if kind == FAILED:
            errors[new_error] += n
            continue
        tables.setdefault(into, Counter())["rows" if kind == RECOVERED else "duplicates"] += n
        recovers.setdefault(f"{namespace}/{doctype}", Counter())[error_type] += n
    out = {
        "picked": sum(r[-1] for r in rows),
        "tables": {t: dict(c) for t, c in sorted(tables.items())},
        "errors": dict(sorted(errors.items())),
        "unchanged": unchanged,
        "recovers": {k: dict(sorted(v.items())) for k, v in sorted(recovers.items())},
        "days": sorted(days),
    }
    if not dry_run and len(rows) > unchanged:
        out["committed"] = {
            "rows": sum(c["rows"] for c in tables.values()),
            "duplicates": sum(c["duplicates"] for c in tables.values()),
            "errors": sum(errors.values()),
        }
    return out


def transaction(
    project: str, placed: dict[TableId, TableId], columns: dict[TableId, list[str]], outcomes: str, tables: list[TableId]
) -> str:
    """The one script that makes the replay count: staged rows into their tables (one row per live
    document), replayed error rows out, each recovered document recorded."""
    done = f"SELECT {FINGERPRINT} FROM `{project}.{outcomes}` WHERE error_table = '{{}}' AND outcome != '{UNCHANGED}'"
    statements = []
    for source, target in sorted(placed.items(), key=lambda pair: str(pair[1])):
        names = ", ".join(f"`{c}`" for c in columns[source])
        once = "" if target.dataset == ERROR_DATASET else " WHERE TRUE QUALIFY ROW_NUMBER() OVER (PARTITION BY document_id) = 1"
        statements.append(f"INSERT INTO `{project}.{target}` ({names}) SELECT {names} FROM `{project}.{source}`{once}")
    for table in tables:
        statements.append(f"DELETE FROM `{project}.{table}` AS t WHERE FARM_FINGERPRINT(TO_JSON_STRING(t)) IN ({done.format(table)})")
    statements.append(
        f"INSERT INTO `{project}.{REPLAYS}` (replayed_at, document_id, error_table, error_type, {SUBMISSION_TIMESTAMP}, into_table) "
        f"SELECT CURRENT_TIMESTAMP(), document_key, error_table, error_type, {SUBMISSION_TIMESTAMP}, into_table "
        f"FROM `{project}.{outcomes}` WHERE outcome = '{RECOVERED}'"
    )
    return "BEGIN TRANSACTION;\n" + ";\n".join(statements) + ";\nCOMMIT TRANSACTION;"


def replay_bigquery(
    project: str, selection: Selection, config: DecoderConfig, *, dry_run: bool = False, beam_args: list[str] = (), progress=None
) -> dict:
    """Replay on a BigQuery project (see the module's docstring); replay.py's report, and `held_back`
    (the moment rows were picked up to) when the streaming buffer held newer ones back."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from google.api_core.exceptions import BadRequest

    from pingpipe.decoder import ondask

    client = make_client(project)
    tables = error_tables(client, project)
    empty = {"picked": 0, "tables": {}, "errors": {}, "unchanged": 0, "recovers": {}, "days": []}
    if not tables:
        return empty
    location = client.get_dataset(f"{project}.{ERROR_DATASET}").location
    client = make_client(project, location)
    upto, held = moment(client, project, tables, selection)
    if upto is None:
        return empty
    parts, total = shards(client, project, tables, selection, upto)
    if progress is not None:
        progress(0, total)
    run = uuid.uuid4().hex
    ensure_dataset(client, project, META_DATASET)
    options = PipelineOptions(list(beam_args))
    runner = options.view_as(StandardOptions)
    if ondask.is_dask(runner.runner):  # Beam knows it by its full name only; the job is in the shapes it runs
        runner.runner = ondask.RUNNER
    pipeline = beam.Pipeline(options=options)
    build(pipeline, project, location, selection, upto, parts, config, run)
    pipeline.run().wait_until_finish()
    placed = staged_tables(client, project, run)
    outcomes = staged(run, OUTCOMES)
    try:
        out = report(client, project, str(outcomes), dry_run)
        if progress is not None:
            progress(out["picked"], total)
        if not dry_run and "committed" in out:
            columns = {}
            writer = BigQueryWriter(project, client=client)
            for source, target in placed.items():
                if target != OUTCOMES:
                    fields = [f.to_api_repr() for f in client.get_table(f"{project}.{source}").schema]
                    writer.ensure_table(target, fields)
                    columns[source] = [f["name"] for f in fields]
            writer.ensure_table(TableId.parse(REPLAYS), REPLAYS_FIELDS)
            script = transaction(project, {s: t for s, t in placed.items() if t != OUTCOMES}, columns, str(outcomes), tables)
            faults.point("replay")  # tests: a kill with everything staged, nothing committed
            try:
                client.query(script).result()
            except BadRequest as exc:
                if "streaming buffer" in str(exc):
                    raise CommandError(
                        "BigQuery will not delete error rows written in the last minutes (its streaming buffer); "
                        "nothing was replayed: run again in an hour"
                    ) from None
                raise
    finally:
        for source in placed:
            client.delete_table(f"{project}.{source}", not_found_ok=True)
    if held:
        out["held_back"] = utc.timestamp(upto)
    return out


def cycled_days(client, project: str) -> set[dt.date]:
    """The days whose cycle a project recorded (cycle.py's CYCLES)."""
    from google.api_core.exceptions import NotFound

    try:
        return {r[0] for r in client.query(f"SELECT DISTINCT day FROM `{project}.{CYCLES}`").result()}
    except NotFound:
        return set()

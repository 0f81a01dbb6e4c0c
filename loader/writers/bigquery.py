"""The production warehouse: BigQuery through google-cloud-bigquery.

Tables are created from their `.bq` fields on first use: day-partitioned on
`submission_timestamp` (partition expiry from the schema's `expiration_policy.delete_after_days`),
clustered on `normalized_channel, sample_id` (the columns a table has of those). When a schema
gains fields, the new columns are added with a schema update (BigQuery only ever adds columns,
nested ones included; existing data keeps its values).

Rows are streamed with `insertAll` in batches, each row's `document_id` as its insertId
(BigQuery's best-effort dedupe of retried requests). Transient failures (429, 5xx, connection
errors) are retried with exponential back-off by google-api-core; rows BigQuery rejects go to
the error table with BigQuery's own message, and the other rows of the batch still load.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pingpipe import jsontext
from pingpipe.schemas.names import META_DATASET, staged

from ..evolution import additions, merge
from ..load import refused_row
from ..tables import ERROR_FIELDS, SUBMISSION_TIMESTAMP, TableId

if TYPE_CHECKING:  # pragma: no cover
    from google.cloud import bigquery

    from pingpipe.schemas.registry import Registry

MAX_ROWS_PER_REQUEST = 500  # BigQuery's recommendation for insertAll
MAX_BYTES_PER_REQUEST = 9 * 1024 * 1024  # under the 10 MB request limit
CLUSTERING = ("normalized_channel", "sample_id")


def retry_policy(deadline: float = 600.0):
    """Exponential back-off (1 s doubling to 60 s) on what BigQuery calls transient, for up to `deadline` s."""
    from google.cloud.bigquery import DEFAULT_RETRY

    return DEFAULT_RETRY.with_delay(initial=1.0, maximum=60.0, multiplier=2.0).with_deadline(deadline)


# Hours a dataset keeps deleted and changed rows readable by time travel: BigQuery's minimum, set
# when pingpipe makes the dataset, so that a shredded row is gone from queries within two days
# (then BigQuery's fail-safe keeps it 7 more days, readable by Google support only).
TIME_TRAVEL_HOURS = 48


LOCATION_ENV = "PINGPIPE_BIGQUERY_LOCATION"


@dataclass(frozen=True)
class BigQueryConfig:
    """What a BigQuery warehouse is told beyond its project, carried to Beam's workers with the load."""

    location: str | None = None  # where its datasets are made (else $PINGPIPE_BIGQUERY_LOCATION)
    dead_letter: str | None = None  # a folder (a path or gs://) for error rows the error table refuses
    staging: str | None = None  # a replay's run: every table written goes to its staged table (names.staged)


STAGED_HOURS = 24  # a staged table a replay killed half way left behind expires by itself


DEFAULTS = BigQueryConfig()


class LocationMissing(ValueError):
    """A dataset to make, and no location given: BigQuery would put it in the US, for good."""


def ensure_dataset(client, project: str, dataset: str, retry=None) -> None:
    """The dataset, made where the client's location says, with the shortest time-travel window, if
    it does not exist yet. Never made without a location: a dataset cannot move once made."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    try:
        client.get_dataset(f"{project}.{dataset}")
        return
    except NotFound:
        pass
    if not client.location:
        raise LocationMissing(
            f"dataset {project}.{dataset} does not exist, and pingpipe makes a dataset only where it is told: "
            f"give --bigquery-location or set {LOCATION_ENV} (US, EU or a region; a dataset never moves once made)"
        )
    made = bigquery.Dataset(f"{project}.{dataset}")
    made.location = client.location
    made.max_time_travel_hours = TIME_TRAVEL_HOURS
    if retry is None:
        client.create_dataset(made, exists_ok=True)
    else:
        client.create_dataset(made, exists_ok=True, retry=retry)


def project_tables(client, project: str) -> list[TableId]:
    """Every table and view of the project, as DuckDBWriter.tables() lists a DuckDB warehouse's
    (pingpipe's own bookkeeping aside)."""
    datasets = [d for d in client.list_datasets(project) if d.dataset_id != META_DATASET]
    return [TableId(d.dataset_id, t.table_id) for d in datasets for t in client.list_tables(d)]


JOB_LABELS = {"app": "pingpipe"}  # every job pingpipe runs, to find them in billing and INFORMATION_SCHEMA.JOBS
MAX_BYTES_BILLED = 1 << 40  # a job that would scan more fails instead of running: a runaway query costs at most this
MAX_BYTES_BILLED_ENV = "PINGPIPE_BIGQUERY_MAX_BYTES_BILLED"


def make_client(project: str, location: str | None = None) -> "bigquery.Client":
    """The client for `project`; with BIGQUERY_EMULATOR_HOST set, an anonymous one for that emulator.
    Its jobs and the datasets it makes are in `location` (else $PINGPIPE_BIGQUERY_LOCATION); its query
    jobs carry pingpipe's labels and a bytes-billed ceiling (MAX_BYTES_BILLED, or
    $PINGPIPE_BIGQUERY_MAX_BYTES_BILLED)."""
    import os

    from google.cloud import bigquery

    location = location or os.environ.get(LOCATION_ENV) or None

    ceiling = int(os.environ.get(MAX_BYTES_BILLED_ENV) or MAX_BYTES_BILLED)
    defaults = bigquery.QueryJobConfig(labels=JOB_LABELS, maximum_bytes_billed=ceiling)
    emulator = os.environ.get("BIGQUERY_EMULATOR_HOST")
    if emulator:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        return bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
            default_query_job_config=defaults,
            location=location,
        )
    return bigquery.Client(project=project, default_query_job_config=defaults, location=location)


class BigQueryWriter:
    def __init__(
        self,
        project: str,
        *,
        client: "bigquery.Client | None" = None,
        registry: "Registry | None" = None,
        retry_deadline: float = 600.0,
        config: BigQueryConfig = DEFAULTS,
    ):
        from google.cloud import bigquery

        self.bigquery = bigquery
        self.client = client or make_client(project, config.location)
        self.dead_letter = config.dead_letter
        self.staging = config.staging
        self.dead_lettered = 0
        self.project = project
        self.registry = registry
        self.retry = retry_policy(retry_deadline)
        self._schemas: dict[TableId, list[dict]] = {}
        self._datasets: set[str] = set()
        self.rejected = 0

    def close(self) -> None:
        self.client.close()

    # -- tables ----------------------------------------------------------------------------

    def place(self, table: TableId) -> TableId:
        """Where rows for `table` are written: the table, or a replay's staged table for it."""
        return staged(self.staging, table) if self.staging else table

    def _ref(self, table: TableId) -> str:
        placed = self.place(table)
        return f"{self.project}.{placed.dataset}.{placed.table}"

    def _expiration_days(self, table: TableId) -> int | None:
        if self.registry is None:
            return None
        for entry in self.registry:
            if entry.live_table == f"{table.dataset}.{table.table}":
                days = (entry.metadata.get("expiration_policy") or {}).get("delete_after_days")
                return int(days) if days else None
        return None

    def table_fields(self, table: TableId) -> list[dict] | None:
        return self._schemas.get(table)

    def ensure_table(self, table: TableId, fields: list[dict]) -> list[dict]:
        """Create the dataset and table, or add the columns `fields` has and the table lacks."""
        from google.api_core.exceptions import NotFound

        bq = self.bigquery
        known = self._schemas.get(table)
        if known is not None and not additions(known, fields):
            return known
        dataset = self.place(table).dataset
        if dataset not in self._datasets:
            ensure_dataset(self.client, self.project, dataset, self.retry)
            self._datasets.add(dataset)
        try:
            existing = self.client.get_table(self._ref(table), retry=self.retry)
        except NotFound:
            existing = None
        if existing is None:
            new = bq.Table(self._ref(table), schema=[bq.SchemaField.from_api_repr(f) for f in fields])
            names = {f["name"] for f in fields}
            if SUBMISSION_TIMESTAMP in names:
                days = self._expiration_days(table)
                new.time_partitioning = bq.TimePartitioning(
                    type_=bq.TimePartitioningType.DAY, field=SUBMISSION_TIMESTAMP, expiration_ms=days * 86_400_000 if days else None
                )
            clustering = [c for c in CLUSTERING if c in names]
            if clustering:
                new.clustering_fields = clustering
            if self.staging:
                import datetime as dt

                new.expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=STAGED_HOURS)
            self.client.create_table(new, exists_ok=True, retry=self.retry)
            self._schemas[table] = fields
            return fields
        current = [f.to_api_repr() for f in existing.schema]
        if additions(current, fields):
            merged = merge(current, fields)
            existing.schema = [bq.SchemaField.from_api_repr(f) for f in merged]
            existing = self.client.update_table(existing, ["schema"], retry=self.retry)
            current = [f.to_api_repr() for f in existing.schema]
        self._schemas[table] = current
        return current

    # -- writing ---------------------------------------------------------------------------

    def _requests(self, rows: list[dict]):
        batch, size = [], 0
        for row in rows:
            n = len(jsontext.dumps(row))
            if batch and (len(batch) >= MAX_ROWS_PER_REQUEST or size + n > MAX_BYTES_PER_REQUEST):
                yield batch
                batch, size = [], 0
            batch.append(row)
            size += n
        if batch:
            yield batch

    def _insert(self, table: TableId, rows: list[dict]) -> list[tuple[dict, str]]:
        """Stream rows; returns (row, BigQuery's message) for each row BigQuery rejected."""
        rejected = []
        for request in self._requests(rows):
            row_ids = [r.get("document_id") for r in request]
            errors = self.client.insert_rows_json(
                self._ref(table),
                request,
                row_ids=row_ids if all(row_ids) else self.bigquery.AutoRowIDs.GENERATE_UUID,
                skip_invalid_rows=True,
                retry=self.retry,
            )
            for error in errors:
                messages = "; ".join(
                    f"{e.get('reason', '')}: {e.get('message', '')} ({e.get('location', '')})"
                    for e in error.get("errors", [])
                    if e.get("reason") != "stopped"
                )
                if messages:
                    rejected.append((request[error["index"]], messages))
        return rejected

    def write(self, batches: dict[TableId, tuple[list[dict], list]], *, extra_sql=()) -> int:
        """Append every batch; rejected rows become error rows. Returns rows written (error rows included).

        BigQuery has no multi-table transaction: `extra_sql` is not supported here (it is what makes
        `pingpipe up` exactly-once on DuckDB); retried inserts are deduplicated by insertId instead.
        """
        if extra_sql:
            raise NotImplementedError("BigQuery writes are not transactional: extra_sql needs the DuckDB writer")
        written = 0
        failed: dict[TableId, list[dict]] = {}
        for table, (fields, rows) in batches.items():
            if not rows:
                continue
            rows = [jsontext.loads(r) if type(r) is bytes else dict(r) for r in rows]
            encode = json_encoder(self.ensure_table(table, fields))
            if encode is not None:
                rows = [encode(r) for r in rows]
            rejected = self._insert(table, rows)
            written += len(rows) - len(rejected)
            for row, message in rejected:
                where_to, error = refused_row(row, table, f"BigQuery rejected the row for {table}: {message}")
                failed.setdefault(where_to, []).append(error)
        for table, rows in failed.items():
            self.rejected += len(rows)
            self.ensure_table(table, ERROR_FIELDS)
            still = self._insert(table, rows)
            if still:
                self.last_resort(table, still)
            written += len(rows) - len(still)
        return written

    def last_resort(self, table: TableId, refused: list[tuple[dict, str]]) -> None:
        """Error rows the error table refuses: into the dead letter, as the rows they are (`bq load`
        takes them back once the table is mended), so the load goes on; without one, fail loudly
        (the batch is retried, and nothing is lost)."""
        if not self.dead_letter:
            raise RuntimeError(f"BigQuery rejected error rows for {table}, and there is no --dead-letter: {refused[0][1]}")
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.metrics import Metrics

        path = FileSystems.join(self.dead_letter, table.dataset, table.table, f"{uuid.uuid4().hex}.ndjson")
        with FileSystems.create(path) as out:
            out.write(b"".join(jsontext.dumps(row) + b"\n" for row, _ in refused))
        self.dead_lettered += len(refused)
        Metrics.counter("loader", "dead_letter").inc(len(refused))  # in the bundle that wrote them (Beam's workers share this writer)


def json_encoder(fields: list[dict]):
    """A function that rewrites a row's JSON-typed values as JSON text (how insertAll takes JSON columns), or None."""
    plan = []
    for field in fields:
        if field["type"] == "JSON":
            plan.append((field["name"], field.get("mode") == "REPEATED", None))
        elif field["type"] in ("RECORD", "STRUCT"):
            inner = json_encoder(field["fields"])
            if inner is not None:
                plan.append((field["name"], field.get("mode") == "REPEATED", inner))
    if not plan:
        return None

    def encode(row: dict) -> dict:
        for name, repeated, inner in plan:
            value = row.get(name)
            if value is None:
                continue
            if inner is None:
                row[name] = [jsontext.dumps(v).decode() for v in value] if repeated else jsontext.dumps(value).decode()
            elif repeated:
                for item in value:
                    inner(item)
            else:
                inner(value)
        return row

    return encode

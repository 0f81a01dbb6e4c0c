"""Plain mozlog lines (services not on Glean) -> rows of `<service>_logs_live.<type>`, one table per Type.

The producer (`pingpipe logs ingest --service`) parses each line and applies the service's policy
(policy.py) before anything is written, to the Fields and the envelope alike, then queues the row
itself; every runner only places it (`place`, through decoder/core.py). Mozlog's envelope gets columns; Fields get typed
columns where the policy gives them, and the rest is one JSON column. A line that is not mozlog,
or whose Type could not name a table (`type_problem`), is queued with its reason for an error row.
A row's document id is a hash of its service and line: the same line loaded twice is a counted
duplicate, never a second row. A service gets at most so many tables (`over_table_bound`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

import orjson

from pingpipe import utc
from pingpipe.privacy.addresses import address_spans
from pingpipe.schemas.names import DOCUMENT_ID, SUBMISSION_TIMESTAMP, TableId, is_logs_live, live_dataset, logs_family, sanitize_identifier

from .policy import Policy, apply, scrub

SERVICE = "log_service"  # the attributes of a queued log row
TYPE = "log_type"
COLUMNS = "log_columns"
ERROR = "log_error"  # the reason a line became an error row
ERROR_KIND = "log_error_type"  # its error_type, when not ERROR_TYPE
ERROR_TYPE = "ParseMozlog"
TOO_LONG = "LogLineTooLong"
MAX_TABLES = 100  # a service's log tables: past it, a new Type's rows are error rows
# What a mozlog Type must look like to name a table: Mozilla's are like `request.summary`.
TYPE_RULE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
ENVELOPE_TEXT = ("Logger", "Hostname", "EnvVersion")
# What --service must look like: its dataset is the name with `-` as `_` (fxa-auth -> fxa_auth_logs_live),
# as Mozilla names a service's datasets; any other change would put two names' rows in one table.
SERVICE_RULE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class NotMozlog(ValueError):
    """A line that is not a mozlog record."""


class MozlogError(ValueError):
    """A log line refused when it was queued (not mozlog, or too long), with its reason."""


def is_queued(attributes: dict[str, str]) -> bool:
    """A service's log line, queued as its row or as the reason it could not be one: every runner
    places it as it is (`place`, `refusal`), and never decodes it as a ping."""
    return SERVICE in attributes or ERROR in attributes


def refusal(attributes: dict[str, str]) -> tuple[str, MozlogError] | None:
    """The error type and exception of a line refused when it was queued; None for a row."""
    reason = attributes.get(ERROR)
    if reason is None:
        return None
    return attributes.get(ERROR_KIND, ERROR_TYPE), MozlogError(reason)


def _f(name: str, type_: str, mode: str = "NULLABLE", description: str = "") -> dict:
    return {"name": name, "type": type_, "mode": mode, "description": description}


ENVELOPE = [
    _f(SUBMISSION_TIMESTAMP, "TIMESTAMP", "REQUIRED", "When the line was logged (its Timestamp)"),
    _f("document_id", "STRING", "NULLABLE", "A hash of the service and the line: the same line twice is a duplicate"),
    _f("timestamp", "INT64", "NULLABLE", "Mozlog Timestamp: nanoseconds since the epoch"),
    _f("type", "STRING", "NULLABLE", "Mozlog Type"),
    _f("logger", "STRING", "NULLABLE", "Mozlog Logger"),
    _f("hostname", "STRING", "NULLABLE", "Mozlog Hostname"),
    _f("env_version", "STRING", "NULLABLE", "Mozlog EnvVersion"),
    _f("severity", "INT64", "NULLABLE", "Mozlog Severity (syslog levels: 0 emergency … 7 debug)"),
    _f("pid", "INT64", "NULLABLE", "Mozlog Pid"),
]


def table_of(service: str, type_: str) -> TableId:
    return TableId(dataset_of(service), sanitize_identifier(type_))


def service_problem(service: str) -> str | None:
    """Why a service name cannot name its dataset as given, or None (the reason says what would)."""
    if SERVICE_RULE.fullmatch(service):
        return None
    cleaned = re.sub(r"_+", "_", sanitize_identifier(service)).strip("_")
    like = f" (e.g. {cleaned})" if cleaned and SERVICE_RULE.fullmatch(cleaned) else ""
    return f"{service!r} cannot name a dataset: a service name is a letter, then at most 63 letters, digits, '_' or '-'{like}"


def dataset_of(service: str) -> str:
    """The dataset of a service's log tables: `<service>_logs_live`, `-` as `_`."""
    return live_dataset(logs_family(service))


def type_problem(type_: str) -> str | None:
    """Why a mozlog Type cannot name a table, or None. The reason never repeats the Type: it may hold an address."""
    if address_spans(type_):
        return "its Type holds an IP or e-mail address"
    if not TYPE_RULE.fullmatch(type_):
        return "its Type is not a name (a letter, then at most 63 letters, digits, '_', '.' or '-')"
    return None


def over_table_bound(new: set[TableId], existing: set[TableId], bound: int) -> set[TableId]:
    """The tables of `new` that would take a service past `bound` log tables, given the tables that
    exist: a service's first tables in name order are made, the rest refused."""
    refused = set()
    by_dataset: dict[str, int] = {}
    for table in existing:
        if is_logs_live(table.dataset):
            by_dataset[table.dataset] = by_dataset.get(table.dataset, 0) + 1
    for table in sorted((t for t in new if is_logs_live(t.dataset) and t not in existing), key=str):
        if by_dataset.get(table.dataset, 0) >= bound:
            refused.add(table)
        else:
            by_dataset[table.dataset] = by_dataset.get(table.dataset, 0) + 1
    return refused


def fields_for(columns: dict[str, str] | None) -> list[dict]:
    """The table's fields: the envelope, then Fields as JSON, or as typed columns and the rest as JSON."""
    if not columns:
        return ENVELOPE + [_f("fields", "STRING", description="Mozlog Fields, as JSON, after the service's policy")]
    record = {
        "name": "fields",
        "type": "RECORD",
        "mode": "NULLABLE",
        "description": "Mozlog Fields the policy gives columns",
        "fields": [_f(sanitize_identifier(name), type_) for name, type_ in sorted(columns.items())],
    }
    return ENVELOPE + [record, _f("extra_fields", "STRING", description="The other Fields, as JSON")]


def _nanoseconds(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NotMozlog("its Timestamp is not a number of nanoseconds")
    return int(value)


def parse(line: bytes) -> dict:
    """The mozlog record of a line: a JSON object with a Type, a Timestamp and, if any, an object of Fields."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise NotMozlog("not JSON") from None
    if not isinstance(record, dict):
        raise NotMozlog("JSON, but not an object")
    if not isinstance(record.get("Type"), str) or "Timestamp" not in record:
        raise NotMozlog("JSON, but not mozlog: no Type or no Timestamp")
    problem = type_problem(record["Type"])
    if problem:
        raise NotMozlog(problem)
    if not isinstance(record.get("Fields", {}), dict):
        raise NotMozlog("its Fields is not an object")
    _nanoseconds(record["Timestamp"])
    return record


def row(service: str, line: bytes, record: dict, policy: Policy, key: bytes | None) -> tuple[dict, dict[str, str]]:
    """The row of a mozlog record, and the attributes it is queued with."""
    ns = _nanoseconds(record["Timestamp"])
    when = dt.datetime.fromtimestamp(ns // 1_000_000_000, utc.UTC).replace(microsecond=(ns // 1000) % 1_000_000)
    stamp = utc.timestamp(when)
    document_id = str(uuid.UUID(bytes=hashlib.sha256(service.encode() + b"\n" + line.rstrip(b"\r\n")).digest()[:16]))
    fields = apply(record.get("Fields") or {}, policy, key)
    logger, hostname, env_version = (scrub(record.get(name)) for name in ENVELOPE_TEXT)
    out = {
        SUBMISSION_TIMESTAMP: stamp,
        DOCUMENT_ID: document_id,
        "timestamp": ns,
        "type": record["Type"],
        "logger": logger,
        "hostname": hostname,
        "env_version": env_version,
        "severity": record.get("Severity"),
        "pid": record.get("Pid"),
    }
    columns = policy.columns.get(record["Type"])
    attributes = {SERVICE: service, TYPE: record["Type"], SUBMISSION_TIMESTAMP: stamp, DOCUMENT_ID: document_id}
    if columns:
        out["fields"] = {sanitize_identifier(k): fields.pop(k) for k in list(fields) if k in columns}
        out["extra_fields"] = orjson.dumps(fields).decode() if fields else None
        attributes[COLUMNS] = orjson.dumps(columns).decode()
    else:
        out["fields"] = orjson.dumps(fields).decode() if fields else None
    return out, attributes


def place(attributes: dict[str, str]) -> tuple[TableId, list[dict]]:
    """Where a queued log row goes, and the table's fields (every runner that loads log rows routes with it)."""
    columns = orjson.loads(attributes[COLUMNS]) if COLUMNS in attributes else None
    return table_of(attributes[SERVICE], attributes[TYPE]), fields_for(columns)

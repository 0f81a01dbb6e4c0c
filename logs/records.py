"""Plain mozlog lines (services not on Glean) -> rows of `<service>_logs_live.<type>`, one table per Type.

The producer (`pingpipe logs ingest --service`) parses each line and applies the service's policy
(policy.py) before anything is written, then queues the row itself; `up`'s workers only place it
(`place`). Mozlog's envelope gets columns; Fields get typed columns where the policy gives them,
and the rest is one JSON column. A line that is not mozlog is queued as it came, with its reason,
for an error row. A row's document id is a hash of its service and line: the same line loaded
twice is a counted duplicate, never a second row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import orjson

from pingpipe.loader.tables import TableId
from pingpipe.schemas.registry import sanitize_identifier

from .policy import Policy, apply

SERVICE = "log_service"  # the attributes of a queued log row
TYPE = "log_type"
COLUMNS = "log_columns"
ERROR = "log_error"
ERROR_TYPE = "ParseMozlog"


class NotMozlog(ValueError):
    """A line that is not a mozlog record."""


def _f(name: str, type_: str, mode: str = "NULLABLE", description: str = "") -> dict:
    return {"name": name, "type": type_, "mode": mode, "description": description}


ENVELOPE = [
    _f("submission_timestamp", "TIMESTAMP", "REQUIRED", "When the line was logged (its Timestamp)"),
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
    return TableId(f"{sanitize_identifier(service)}_logs_live", sanitize_identifier(type_))


def fields_for(columns: dict[str, str] | None) -> list[dict]:
    """The table's fields: the envelope, then Fields as JSON, or as typed columns and the rest as JSON."""
    if not columns:
        return ENVELOPE + [_f("fields", "STRING", description="Mozlog Fields, as JSON, after the service's policy")]
    record = {"name": "fields", "type": "RECORD", "mode": "NULLABLE", "description": "Mozlog Fields the policy gives columns",
              "fields": [_f(sanitize_identifier(name), type_) for name, type_ in sorted(columns.items())]}
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
    if not isinstance(record.get("Fields", {}), dict):
        raise NotMozlog("its Fields is not an object")
    _nanoseconds(record["Timestamp"])
    return record


def row(service: str, line: bytes, record: dict, policy: Policy, key: bytes | None) -> tuple[dict, dict[str, str]]:
    """The row of a mozlog record, and the attributes it is queued with."""
    ns = _nanoseconds(record["Timestamp"])
    when = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.timezone.utc).replace(microsecond=(ns // 1000) % 1_000_000)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    document_id = str(uuid.UUID(bytes=hashlib.sha256(service.encode() + b"\n" + line.rstrip(b"\r\n")).digest()[:16]))
    fields = apply(record.get("Fields") or {}, policy, key)
    out = {"submission_timestamp": stamp, "document_id": document_id, "timestamp": ns, "type": record["Type"],
           "logger": record.get("Logger"), "hostname": record.get("Hostname"), "env_version": record.get("EnvVersion"),
           "severity": record.get("Severity"), "pid": record.get("Pid")}
    columns = policy.columns.get(record["Type"])
    attributes = {SERVICE: service, TYPE: record["Type"], "submission_timestamp": stamp, "document_id": document_id}
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

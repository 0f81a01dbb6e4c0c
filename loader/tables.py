"""Table names and shapes: live tables from the registry, Mozilla's error tables, DuckDB types.

No table or dataset name is ever built from request text: decoded pings name their table through
their registry entry, and errors go to one of two fixed tables.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR_DATASET = "payload_bytes_error"
ERROR_FIELDS = [
    {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "document_namespace", "type": "STRING", "mode": "NULLABLE"},
    {"name": "document_type", "type": "STRING", "mode": "NULLABLE"},
    {"name": "document_version", "type": "STRING", "mode": "NULLABLE"},
    {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "uri", "type": "STRING", "mode": "NULLABLE"},
    {"name": "error_type", "type": "STRING", "mode": "NULLABLE"},
    {"name": "error_message", "type": "STRING", "mode": "NULLABLE"},
    {"name": "exception_class", "type": "STRING", "mode": "NULLABLE"},
    {"name": "stack_trace", "type": "STRING", "mode": "NULLABLE"},
    {"name": "payload", "type": "BYTES", "mode": "NULLABLE"},
]
_DUCK = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "INTEGER": "BIGINT",
    "FLOAT64": "DOUBLE",
    "FLOAT": "DOUBLE",
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIME": "TIME",
    "BYTES": "BLOB",
    "NUMERIC": "DECIMAL(38, 9)",
    "BIGNUMERIC": "DOUBLE",
    "JSON": "JSON",
    "GEOGRAPHY": "VARCHAR",
}


@dataclass(frozen=True)
class TableId:
    dataset: str
    table: str

    @classmethod
    def parse(cls, qualified: str) -> "TableId":
        dataset, _, table = qualified.partition(".")
        return cls(dataset, table)

    def __str__(self) -> str:
        return f"{self.dataset}.{self.table}"


def error_table(namespace: str | None) -> TableId:
    return TableId(ERROR_DATASET, "telemetry" if namespace == "telemetry" else "structured")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def duckdb_type(field: dict) -> str:
    """DuckDB type of a BigQuery field: RECORD -> STRUCT, REPEATED -> LIST, TIMESTAMP -> TIMESTAMPTZ, ..."""
    if field["type"] in ("RECORD", "STRUCT"):
        inner = ", ".join(f"{quote(f['name'])} {duckdb_type(f)}" for f in field["fields"])
        base = f"STRUCT({inner})"
    else:
        base = _DUCK[field["type"]]
    return f"{base}[]" if field.get("mode") == "REPEATED" else base

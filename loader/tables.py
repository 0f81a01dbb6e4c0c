"""Table shapes: Mozilla's error tables' columns, DuckDB types. Their names are schemas/names.py's.

No table or dataset name is ever built from request text: decoded pings name their table through
their registry entry, and errors go to one of two fixed tables.
"""

from __future__ import annotations

from pingpipe.schemas.names import (
    DOCUMENT_ID,
    DOCUMENT_NAMESPACE,
    DOCUMENT_TYPE,
    DOCUMENT_VERSION,
    SUBMISSION_TIMESTAMP,
    URI,
)

# Re-exported: the loader's modules and their callers have always imported these from here.
from pingpipe.schemas.names import ERROR_DATASET as ERROR_DATASET
from pingpipe.schemas.names import TableId as TableId
from pingpipe.schemas.names import error_table as error_table

ERROR_FIELDS = [
    {"name": SUBMISSION_TIMESTAMP, "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": DOCUMENT_NAMESPACE, "type": "STRING", "mode": "NULLABLE"},
    {"name": DOCUMENT_TYPE, "type": "STRING", "mode": "NULLABLE"},
    {"name": DOCUMENT_VERSION, "type": "STRING", "mode": "NULLABLE"},
    {"name": DOCUMENT_ID, "type": "STRING", "mode": "NULLABLE"},
    {"name": URI, "type": "STRING", "mode": "NULLABLE"},
    {"name": "error_type", "type": "STRING", "mode": "NULLABLE"},
    {"name": "error_message", "type": "STRING", "mode": "NULLABLE"},
    {"name": "exception_class", "type": "STRING", "mode": "NULLABLE"},
    {"name": "stack_trace", "type": "STRING", "mode": "NULLABLE"},
    {"name": "payload", "type": "BYTES", "mode": "NULLABLE"},
]
# The message's other attributes that Mozilla's error table keeps, but for the identifiers (remote_addr,
# x_forwarded_for, user_agent, client_id): what a replay needs to make the ping it would have been.
# Column -> attribute: the same name, but Mozilla's user_agent_version.
ERROR_ATTRIBUTES = {
    name: name
    for name in (
        "args",
        "content_length",
        "date",
        "dnt",
        "host",
        "method",
        "protocol",
        "geo_country",
        "geo_subdivision1",
        "geo_subdivision2",
        "geo_city",
        "user_agent_browser",
        "user_agent_os",
        "x_debug_id",
        "x_pingsender_version",
        "x_source_tags",
        "x_telemetry_agent",
        "x_lb_tags",
        "x_foxsec_ip_reputation",
    )
} | {"user_agent_version": "user_agent_browser_version"}
ERROR_FIELDS += [{"name": column, "type": "STRING", "mode": "NULLABLE"} for column in ERROR_ATTRIBUTES]
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

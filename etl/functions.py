"""SQL functions users' queries call the same way on both engines, `udf.bits28_<name>(…)`, from
templates/functions/bits28.yaml: each body is BigQuery SQL, made a persistent function in the
project's `udf` dataset on BigQuery and, through the ETL's transpiler, a macro of the same name in
the warehouse's `udf` schema on DuckDB. The ETL makes them before it runs a day's queries."""

from __future__ import annotations

from functools import cache

import sqlglot
import yaml

from .templates import ROOT

DATASET = "udf"


@cache
def definitions() -> dict[str, dict]:
    """`bits28_<name>` -> its definition (args, returns, about, body), in dependency order as written."""
    found = yaml.safe_load((ROOT / "functions" / "bits28.yaml").read_text())
    return {f"bits28_{name}": spec for name, spec in found.items()}


def duckdb_statements() -> list[str]:
    out = [f"CREATE SCHEMA IF NOT EXISTS {DATASET}"]
    for name, spec in definitions().items():
        body = sqlglot.transpile(spec["body"], read="bigquery", write="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
        out.append(f"CREATE OR REPLACE MACRO {DATASET}.{name}({', '.join(a for a, _ in spec['args'])}) AS {body}")
    return out


def bigquery_statements(project: str) -> list[str]:
    out = []
    for name, spec in definitions().items():
        args = ", ".join(f"{a} {t}" for a, t in spec["args"])
        returns = f" RETURNS {spec['returns']}" if spec.get("returns") else ""
        out.append(f"CREATE OR REPLACE FUNCTION `{project}.{DATASET}.{name}`({args}){returns} AS ({spec['body']})")
    return out


def ensure_duckdb(con) -> None:
    """The functions as macros on a DuckDB connection (they persist in its file)."""
    for statement in duckdb_statements():
        con.execute(statement)


def ensure_bigquery(client, project: str) -> None:
    from pingpipe.loader.writers.bigquery import ensure_dataset

    ensure_dataset(client, project, DATASET)
    for statement in bigquery_statements(project):
        client.query(statement).result()

"""BigQuery servers for the writer's tests.

* `start_bqemulator`: the real bqemulator (PyPI, DuckDB-backed) in its own venv
  (`.venv-bqemulator`, created on first use from the package registry), started with the two
  offline workarounds from the bqemulator notes in shared/README.md: its DuckDB pinned below 2.x, and its start-up
  download of DuckDB's `spatial` extension switched off; and one fix: a schema update adds its columns to the
  emulator's storage too, as BigQuery does (bqemulator 1.4 changes only its catalog).
* `FakeBigQuery`: a fake, for the paths bqemulator gets wrong or cannot cause (a schema update
  leaves the table unchanged; a bad row gets HTTP 500 and a client retry storm; a DML job refused
  because it would touch rows still in the streaming buffer). It answers the REST calls with
  BigQuery's documented resources: tables.get/insert/patch, tabledata.insertAll with
  `insertErrors` per rejected row, and query jobs (jobs.insert, getQueryResults) that it does not
  run: each records its SQL, and `refuse` makes the ones matching a pattern fail with a message. It
  can also fail the next insertAll calls with 503, to prove the back-off retry.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.helpers import JsonHandler, free_port

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-bqemulator"
START = """
import sys
import bqemulator.storage.engine as engine
engine.DuckDBEngine._load_spatial = lambda self: None  # offline: no extension download at start-up
import bqemulator.cli

# bqemulator 1.4 applies a schema update (tables.patch / update) to its catalog only, so its storage
# never has the new columns. BigQuery adds them: so does this, in its storage, after the catalog.
from bqemulator.api.routes.tables import _field_to_rest
from bqemulator.catalog.duckdb_repository import DuckDBCatalogRepository
from bqemulator.catalog.memory_repository import MemoryCatalogRepository
from bqemulator.storage.sql_identifiers import quoted_table_ref
from bqemulator.storage.type_map import bq_schema_to_duckdb_columns


def widening(update):
    def update_table(self, table):
        before = self.get_table(table.project_id, table.dataset_id, table.table_id)
        updated = update(self, table)
        if before is not None and self._engine is not None:
            ref = quoted_table_ref(table.project_id, table.dataset_id, table.table_id)
            old = dict(bq_schema_to_duckdb_columns([_field_to_rest(f) for f in before.schema_.fields]))
            for name, kind in bq_schema_to_duckdb_columns([_field_to_rest(f) for f in updated.schema_.fields]):
                if name not in old:
                    self._engine.execute(f'ALTER TABLE {ref} ADD COLUMN "{name}" {kind}')
                elif old[name] != kind:  # a field added inside a record: DuckDB casts the struct by name
                    self._engine.execute(f'ALTER TABLE {ref} ALTER COLUMN "{name}" SET DATA TYPE {kind}')
        return updated
    return update_table


for repository in (DuckDBCatalogRepository, MemoryCatalogRepository):
    repository.update_table = widening(repository.update_table)
sys.argv = ["bqemulator", *sys.argv[1:]]
bqemulator.cli.main()
"""


def ensure_venv() -> Path:
    """bqemulator's own venv (it pins a DuckDB of its own), made once per clone, by one test process at a
    time. It sees the test venv's packages through a .pth file; pip then installs only what bqemulator
    needs beyond them (or in other versions, which then come first). uv, where the README's command put
    it beside the test venv's python, installs bqemulator's whole set, from the cache it filled."""
    import fcntl
    import sysconfig

    python = VENV / "bin" / "python"
    uv = Path(sys.executable).with_name("uv")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.with_name(VENV.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist: another process may be making it
        if not (VENV / ".ready").exists():
            if uv.exists():
                subprocess.run([str(uv), "venv", "-q", "--clear", "--python", sys.executable, str(VENV)], check=True, capture_output=True)
            else:
                subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
            own = subprocess.run(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True
            ).stdout.strip()
            Path(own, "test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
            pip = [str(uv), "pip", "install", "--python", str(python)] if uv.exists() else [str(python), "-m", "pip", "install"]
            subprocess.run([*pip, "-q", "bqemulator==1.4.0", "duckdb==1.5.6", "numpy"], check=True, capture_output=True)
            (VENV / ".ready").touch()
    return python


@dataclass
class Emulator:
    proc: subprocess.Popen
    endpoint: str
    log: Path

    def env(self, location: str = "US") -> dict[str, str]:
        """A command's environment on this emulator, making datasets in `location`, as a deployment sets it."""
        return {**os.environ, "BIGQUERY_EMULATOR_HOST": self.endpoint, "PINGPIPE_BIGQUERY_LOCATION": location}

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


def start_bqemulator(workdir: Path) -> Emulator:
    python = ensure_venv()
    script = workdir / "start_bqemulator.py"
    script.write_text(START)
    port = free_port()
    log = workdir / "bqemulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(python), str(script), "start", "--project", "test", "--rest-port", str(port), "--grpc-port", str(free_port())],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bqemulator exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/bigquery/v2/projects/test/datasets", timeout=1):
                return Emulator(proc, endpoint, log)
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"bqemulator did not start: {log.read_text()[-2000:]}")


# -- the fake ------------------------------------------------------------------------------

_TYPES = {
    "INTEGER": int,
    "INT64": int,
    "FLOAT": (int, float),
    "FLOAT64": (int, float),
    "BOOLEAN": bool,
    "BOOL": bool,
    "STRING": str,
    "TIMESTAMP": str,
    "BYTES": str,
    "DATE": str,
    "RECORD": dict,
}


def _row_errors(fields: list[dict], row: dict, prefix: str = "") -> list[dict]:
    """What BigQuery would reject in a row: unknown fields and values of the wrong JSON type."""
    by_name = {f["name"]: f for f in fields}
    errors = []
    for key, value in row.items():
        field = by_name.get(key)
        if field is None:
            errors.append(
                {"reason": "invalid", "location": prefix + key, "debugInfo": "", "message": "no such field: " + prefix + key + "."}
            )
            continue
        values = value if field.get("mode") == "REPEATED" and isinstance(value, list) else [value]
        for v in values:
            if v is None:
                continue
            want = _TYPES.get(field["type"], object)
            if field["type"] in ("INTEGER", "INT64") and isinstance(v, str) and re.fullmatch(r"-?\d+", v):
                continue  # BigQuery accepts integers as strings
            if not isinstance(v, want) or (want is int and isinstance(v, bool)):
                errors.append(
                    {
                        "reason": "invalid",
                        "location": prefix + key,
                        "debugInfo": "",
                        "message": f"Cannot convert value to {field['type'].lower()}.",
                    }
                )
            elif field["type"] == "RECORD":
                errors += _row_errors(field["fields"], v, prefix + key + ".")
    return errors


class FakeBigQuery:
    def __init__(self, project: str = "test"):
        self.project = project
        self.tables: dict[tuple[str, str], dict] = {}
        self.rows: dict[tuple[str, str], list[dict]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next_inserts = 0
        self.queries: list[str] = []
        self.configurations: list[dict] = []  # each query job's configuration, as sent
        self.datasets: dict[str, dict] = {}  # datasets.insert bodies, by dataset id
        self.refusals: list[tuple[str, str]] = []  # (regex on the SQL, BigQuery's error message)
        self._jobs: dict[str, dict] = {}
        fake = self

        class Handler(JsonHandler):
            def _job(self, method: str, path: str) -> bool:
                """jobs.insert of a query, and its getQueryResults / jobs.get: recorded, not run."""
                m = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/(jobs|queries)(?:/([^/]+))?", path)
                if not m:
                    return False
                project, kind, job_id = m.groups()
                if method == "POST" and kind == "jobs" and job_id is None:
                    body = self.read_json()
                    sql = body["configuration"]["query"]["query"]
                    fake.queries.append(sql)
                    fake.configurations.append(body["configuration"])
                    job_id = body.get("jobReference", {}).get("jobId") or f"job{len(fake.queries)}"
                    ref = {"projectId": project, "jobId": job_id, "location": "US"}
                    refused = next((message for pattern, message in fake.refusals if re.search(pattern, sql)), None)
                    status = {"state": "DONE"}
                    if refused:
                        status.update(
                            errorResult={"reason": "invalidQuery", "message": refused},
                            errors=[{"reason": "invalidQuery", "message": refused}],
                        )
                    fake._jobs[job_id] = {
                        "kind": "bigquery#job",
                        "id": f"{project}:US.{job_id}",
                        "jobReference": ref,
                        "configuration": body["configuration"],
                        "status": status,
                        "statistics": {"query": {"numDmlAffectedRows": "0", "statementType": "DELETE"}},
                    }
                    self.send_json(200, fake._jobs[job_id])
                    return True
                job = fake._jobs.get(job_id)
                if job is None:
                    self.send_json(404, {"error": {"code": 404, "message": f"Not found: Job {job_id}", "status": "NOT_FOUND"}})
                elif kind == "jobs":
                    self.send_json(200, job)
                elif "errorResult" in job["status"]:
                    message = job["status"]["errorResult"]["message"]
                    self.send_json(
                        400,
                        {
                            "error": {
                                "code": 400,
                                "message": message,
                                "status": "INVALID_ARGUMENT",
                                "errors": [{"reason": "invalidQuery", "message": message}],
                            }
                        },
                    )
                else:
                    self.send_json(
                        200,
                        {
                            "kind": "bigquery#getQueryResultsResponse",
                            "jobReference": job["jobReference"],
                            "jobComplete": True,
                            "totalRows": "0",
                            "rows": [],
                            "schema": {"fields": []},
                            "numDmlAffectedRows": "0",
                        },
                    )
                return True

            def _route(self, method: str):
                path = self.path.split("?", 1)[0]
                fake.calls.append((method, path))
                if self._job(method, path):
                    return
                m = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/datasets(?:/([^/]+))?(?:/tables(?:/([^/]+))?(/insertAll)?)?", path)
                if not m:
                    return self.send_json(404, {"error": {"code": 404, "message": f"Not found: {path}", "status": "NOT_FOUND"}})
                project, dataset, table, insert = m.groups()
                body = self.read_json() if method in ("POST", "PATCH", "PUT") else {}
                if dataset is None and method == "POST":  # datasets.insert
                    fake.datasets[body["datasetReference"]["datasetId"]] = body
                    return self.send_json(200, {**body, "id": f"{project}:{body['datasetReference']['datasetId']}"})
                if table is None and "/tables" in path and method == "POST":  # tables.insert
                    ref = body["tableReference"]
                    key = (ref["datasetId"], ref["tableId"])
                    if key in fake.tables:
                        return self.send_json(409, {"error": {"code": 409, "message": "Already Exists", "status": "ALREADY_EXISTS"}})
                    fake.tables[key] = {**body, "id": f"{project}:{key[0]}.{key[1]}", "etag": "1", "kind": "bigquery#table"}
                    fake.rows[key] = []
                    return self.send_json(200, fake.tables[key])
                key = (dataset, table)
                if key not in fake.tables:
                    return self.send_json(
                        404, {"error": {"code": 404, "message": f"Not found: Table {project}:{dataset}.{table}", "status": "NOT_FOUND"}}
                    )
                if insert:  # tabledata.insertAll
                    if fake.fail_next_inserts:
                        fake.fail_next_inserts -= 1
                        return self.send_json(503, {"error": {"code": 503, "message": "Service unavailable", "status": "UNAVAILABLE"}})
                    fields = fake.tables[key]["schema"]["fields"]
                    errors, good = [], []
                    for i, item in enumerate(body["rows"]):
                        row_errors = _row_errors(fields, item["json"])
                        if row_errors:
                            errors.append({"index": i, "errors": row_errors})
                        else:
                            good.append(item["json"])
                    if errors and not body.get("skipInvalidRows"):
                        stopped = {e["index"] for e in errors}
                        errors += [
                            {"index": i, "errors": [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}]}
                            for i in range(len(body["rows"]))
                            if i not in stopped
                        ]
                        good = []
                    fake.rows[key] += good
                    return self.send_json(
                        200, {"kind": "bigquery#tableDataInsertAllResponse", **({"insertErrors": errors} if errors else {})}
                    )
                if method == "GET":  # tables.get
                    return self.send_json(200, fake.tables[key])
                if method in ("PATCH", "PUT"):  # tables.patch / update: the schema really changes
                    current = fake.tables[key]
                    current.update({k: v for k, v in body.items() if k in ("schema", "description", "labels")})
                    current["etag"] = str(int(current["etag"]) + 1)
                    return self.send_json(200, current)
                return self.send_json(405, {"error": {"code": 405, "message": "method not allowed"}})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def do_PATCH(self):
                self._route("PATCH")

            def do_PUT(self):
                self._route("PUT")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def client_for(endpoint: str, project: str = "test", location: str | None = "US"):
    """A client of a test server; it makes datasets in `location` (None: where none is given)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint), location=location
    )
